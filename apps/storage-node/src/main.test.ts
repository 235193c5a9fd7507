import { spawn, type ChildProcess } from "node:child_process";
import http from "node:http";
import path from "node:path";
import { createInterface } from "node:readline";
import { afterEach, expect, it } from "vitest";
import { ZPutChunkResponse } from "@cumulus/protocol/node-api";
import { FakeControlPlane } from "./testing/fake-control-plane.ts";
import { makeChunk, tempDir } from "./testing/util.ts";

const APP_DIR = path.resolve(import.meta.dirname, "..");
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function startProcess(env: Record<string, string>): {
  child: ChildProcess;
  lines: Record<string, unknown>[];
  waitLine: (pred: (l: Record<string, unknown>) => boolean) => Promise<Record<string, unknown>>;
} {
  const child = spawn(process.execPath, ["src/main.ts"], {
    cwd: APP_DIR,
    // A clean environment: only what the node is documented to read, plus PATH.
    env: { PATH: process.env.PATH ?? "", ...env },
    stdio: ["ignore", "pipe", "pipe"],
  });
  const lines: Record<string, unknown>[] = [];
  const waiters: { pred: (l: Record<string, unknown>) => boolean; resolve: (l: Record<string, unknown>) => void }[] =
    [];
  createInterface({ input: child.stdout! }).on("line", (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { msg: text };
    }
    lines.push(line);
    for (const w of [...waiters]) {
      if (w.pred(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  });
  let stderr = "";
  child.stderr!.on("data", (b: Buffer) => (stderr += b.toString()));
  const waitLine = (pred: (l: Record<string, unknown>) => boolean) =>
    new Promise<Record<string, unknown>>((resolve, reject) => {
      const found = lines.find(pred);
      if (found) return resolve(found);
      waiters.push({ pred, resolve });
      child.once("exit", (code) =>
        reject(new Error(`node exited (${code}) before the expected log line; stderr: ${stderr}`)),
      );
    });
  cleanups.push(() => {
    if (child.exitCode === null) child.kill("SIGKILL");
  });
  return { child, lines, waitLine };
}

it("a spawned node logs ready, then on SIGTERM finishes the in-flight PUT and exits 0", async () => {
  const cp = await FakeControlPlane.start();
  cleanups.push(() => cp.close());
  const { dir, cleanup } = await tempDir("cumulus-sigterm-");
  cleanups.push(cleanup);

  const { child, lines, waitLine } = startProcess({
    CUMULUS_NODE_NAME: "sig",
    CUMULUS_NODE_SITE: "test",
    CUMULUS_NODE_DATA_DIR: dir,
    CUMULUS_NODE_PORT: "0",
    CUMULUS_CONTROL_URL: cp.url,
    CUMULUS_JOIN_TOKEN: cp.joinToken,
    CUMULUS_NODE_SHUTDOWN_TIMEOUT_MS: "10000",
  });
  const ready = await waitLine((l) => l.msg === "storage node ready");
  expect(ready).toMatchObject({ name: "sig", port: expect.any(Number) });
  const port = ready.port as number;

  const { id, data } = makeChunk(1_000_000);
  const token = await cp.mint({ aud: [cp.node("sig").nodeId], op: "write", chunks: [id] });
  const exited = new Promise<number | null>((r) => child.once("exit", (code) => r(code)));

  // `Expect: 100-continue` proves the server is already handling the request; then half
  // the body, SIGTERM, and the rest once the node stopped accepting: in flight across it.
  const response = new Promise<{ status: number; body: string }>((resolve, reject) => {
    const req = http.request({
      host: "127.0.0.1",
      port,
      path: `/chunks/${id}`,
      method: "PUT",
      headers: { authorization: `Bearer ${token}`, "content-length": String(data.length), expect: "100-continue" },
    });
    req.on("continue", () => {
      req.write(data.subarray(0, 500_000), () => {
        child.kill("SIGTERM");
        void waitLine((l) => l.msg === "stopped accepting connections; draining in-flight requests").then(() =>
          setTimeout(() => req.end(data.subarray(500_000)), 100),
        );
      });
    });
    req.on("response", (res) => {
      let body = "";
      res.on("data", (b: Buffer) => (body += b.toString()));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, body }));
    });
    req.on("error", reject);
    req.flushHeaders();
  });

  const draining = await waitLine((l) => l.msg === "stopped accepting connections; draining in-flight requests");
  expect(draining.inflight).toBe(1);
  // Not accepting any more: a new connection is refused while the PUT is still open.
  await expect(connect(port)).rejects.toThrow(/ECONNREFUSED/);

  const res = await response;
  expect(res.status).toBe(201);
  expect(ZPutChunkResponse.parse(JSON.parse(res.body)).receipts).toHaveLength(1);
  expect(await exited).toBe(0);
  expect(lines.some((l) => l.msg === "storage node stopped")).toBe(true);
});

it("a spawned node refuses to start on a data dir that belongs to another node", async () => {
  const cp = await FakeControlPlane.start();
  cleanups.push(() => cp.close());
  const { dir, cleanup } = await tempDir("cumulus-owner-");
  cleanups.push(cleanup);
  const env = {
    CUMULUS_NODE_DATA_DIR: dir,
    CUMULUS_NODE_PORT: "0",
    CUMULUS_CONTROL_URL: cp.url,
    CUMULUS_JOIN_TOKEN: cp.joinToken,
  };

  const first = startProcess({ ...env, CUMULUS_NODE_NAME: "owner" });
  await first.waitLine((l) => l.msg === "storage node ready");
  const firstExit = new Promise((r) => first.child.once("exit", r));
  first.child.kill("SIGINT");
  expect(await firstExit).toBe(0);

  const second = startProcess({ ...env, CUMULUS_NODE_NAME: "intruder" });
  const code = await new Promise((r) => second.child.once("exit", r));
  expect(code).toBe(1);
  expect(second.lines.some((l) => l.level === 60 && String(l.msg).includes('belongs to storage node "owner"'))).toBe(
    true,
  );
});

function connect(port: number): Promise<void> {
  return new Promise((resolve, reject) => {
    const req = http.get({ host: "127.0.0.1", port, path: "/health", agent: false }, (res) => {
      res.resume();
      resolve();
    });
    req.on("error", reject);
  });
}
