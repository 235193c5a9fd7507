import { mkdtemp, readFile, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { once } from "node:events";
import { afterEach, beforeEach, expect, it } from "vitest";
import { SupervisedChild, type ChildSpec } from "./supervisor.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "cumulus-supervisor-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

function nodeSpec(script: string, restart = false): ChildSpec {
  return {
    role: "storage-node",
    name: "n1",
    ports: {},
    command: process.execPath,
    args: ["-e", script],
    cwd: dir,
    env: { PATH: process.env.PATH },
    restart,
  };
}

it("a child that dies reports the error it logged last, even when that line arrives after exit", async () => {
  // process.exit right after a write: the line is still in the pipe when "exit" fires.
  const script = `
    process.stdout.write(JSON.stringify({ level: 30, msg: "chunk store opened" }) + "\\n");
    process.stdout.write(JSON.stringify({ level: 60, msg: "storage node failed to start",
      err: { message: "listen EADDRINUSE: address already in use 127.0.0.1:7101" } }) + "\\n");
    process.exit(1);`;
  const child = new SupervisedChild(nodeSpec(script), dir);
  const crashed = once(child, "crashed");
  child.start();
  const [exit, delay] = (await crashed) as [{ code: number }, number | null];
  expect(exit.code).toBe(1);
  expect(delay).toBeNull();
  expect(child.lastError).toBe(
    "storage node failed to start: listen EADDRINUSE: address already in use 127.0.0.1:7101",
  );
  expect(child.state.status).toBe("exited");
  await child.closeLog();
  expect(await readFile(child.logFile, "utf8")).toContain("[box] exited code=1");
});

it("a config error printed on stderr before any logger exists is the reason", async () => {
  const child = new SupervisedChild(
    nodeSpec(`console.error("CUMULUS_NODE_PORT: expected a number"); process.exit(1)`),
    dir,
  );
  const crashed = once(child, "crashed");
  child.start();
  await crashed;
  expect(child.lastError).toBe("CUMULUS_NODE_PORT: expected a number");
  await child.closeLog();
});

it("a restarting child is not restarted when it is stopped while its output drains", async () => {
  // A grandchild keeps the output open for a while after the child exits (as a worker
  // process of a crashed child would): the box waits for it, up to half a second.
  const script = `
    require("node:child_process").spawn(process.execPath, ["-e", "setTimeout(() => {}, 1500)"], { stdio: "inherit" }).unref();
    process.exit(3);`;
  const child = new SupervisedChild(nodeSpec(script, true), dir);
  let crashes = 0;
  child.on("crashed", () => crashes++);
  child.start();
  await once(child, "change"); // the exit
  await child.stop();
  await new Promise((r) => setTimeout(r, 700));
  expect(crashes).toBe(0);
  expect(child.running).toBe(false);
  expect(child.state.status).toBe("stopped");
  await child.closeLog();
});

it("a line whose multi-byte character is split across two writes reaches line handlers whole", async () => {
  // "é" is C3 A9 in UTF-8; the pause makes the pipe deliver the two bytes separately.
  const script = `
    process.stdout.write(Buffer.from([0x63, 0x61, 0x66, 0xc3]));
    setTimeout(() => { process.stdout.write(Buffer.from([0xa9, 0x0a])); process.exit(0); }, 100);`;
  const child = new SupervisedChild(nodeSpec(script), dir);
  const lines: string[] = [];
  child.onLine((l) => lines.push(l));
  const exited = once(child, "crashed");
  child.start();
  await exited;
  expect(lines).toEqual(["café"]);
  await child.closeLog();
});
