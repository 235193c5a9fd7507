import path from "node:path";
import { fileURLToPath } from "node:url";
import { pino } from "pino";
import { Box, socketPath } from "./box.ts";
import { loadBoxEnv } from "./env.ts";
import { sendBoxRequest } from "./control-socket.ts";
import { parseBytes } from "@cumulus/protocol/bytes";

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), "..", "..", "..");
const ADD_USAGE = "npm run node -- add --site NAME [--capacity SIZE]";

function fail(msg: string): never {
  process.stderr.write(`cumulus: error: ${msg}\n`);
  process.exit(1);
}

async function start(): Promise<void> {
  const env = loadBoxEnv(repoRoot);
  const log = pino({ level: env.CUMULUS_LOG_LEVEL === "debug" ? "debug" : "warn", base: { svc: "box" } });
  const box = new Box(env, log);

  let stopping: Promise<void> | null = null;
  const shutdown = (signal: string) => {
    if (stopping) {
      process.stderr.write("cumulus: forced exit\n");
      process.exit(130);
    }
    process.stderr.write(`cumulus: ${signal}: stopping the cluster (Ctrl-C again to force)\n`);
    stopping = box.stop().then(
      () => {
        process.stderr.write("cumulus: stopped\n");
        process.exit(0);
      },
      (err: Error) => fail(`while stopping: ${err.message}`),
    );
  };
  process.on("SIGINT", () => shutdown("SIGINT"));
  process.on("SIGTERM", () => shutdown("SIGTERM"));

  try {
    const info = await box.start();
    const lines = [
      "",
      "  Cumulus is running.",
      "",
      `  URL:       ${info.url}`,
      `  Admin:     ${info.admin.email}`,
      `  Password:  ${info.admin.password ?? "(the one you set; the generated one is no longer on file)"}${info.admin.created ? "" : "  (created at first start)"}`,
      `  Data:      ${env.dataDir}`,
      `  Processes: ${path.join(env.dataDir, "cluster.json")}   Logs: ${path.join(env.dataDir, "logs")}`,
      "",
      "  Press Ctrl-C to stop.",
      "",
    ];
    process.stdout.write(lines.join("\n") + "\n");
  } catch (err) {
    await box.stop().catch(() => undefined);
    fail((err as Error).message.split("\n")[0] ?? "start failed");
  }
}

async function nodeCommand(args: string[]): Promise<void> {
  const env = loadBoxEnv(repoRoot);
  const [sub, ...rest] = args;
  const sock = socketPath(env.dataDir);
  let res;
  if (sub === "start" && rest[0]) {
    res = await sendBoxRequest(sock, { cmd: "start-node", name: rest[0] });
  } else if (sub === "add") {
    const i = rest.indexOf("--site");
    const site = i >= 0 ? rest[i + 1] : undefined;
    if (!site) fail(`usage: ${ADD_USAGE}`);
    const c = rest.indexOf("--capacity");
    let capacityBytes: number | undefined;
    if (c >= 0) {
      const size = rest[c + 1] ?? "";
      const n = parseBytes(size);
      if (n === null || !Number.isSafeInteger(n) || n <= 0)
        fail(`--capacity: cannot read "${size}" as a size: give one such as 500G or 2T`);
      capacityBytes = n;
    }
    res = await sendBoxRequest(sock, { cmd: "add-node", site, ...(capacityBytes ? { capacityBytes } : {}) });
  } else if (sub === "list" || sub === "status") {
    res = await sendBoxRequest(sock, { cmd: "status" });
  } else {
    fail(`usage: npm run node -- start NAME | ${ADD_USAGE.replace("npm run node -- ", "")} | list`);
  }
  if (!res.ok) fail(res.error);
  process.stdout.write(JSON.stringify(res, null, 2) + "\n");
}

const [cmd, ...args] = process.argv.slice(2);
try {
  if (cmd === "start") await start();
  else if (cmd === "node") await nodeCommand(args);
  else fail(`unknown command ${cmd ?? "(none)"}: expected start or node`);
} catch (err) {
  fail((err as Error).message);
}
