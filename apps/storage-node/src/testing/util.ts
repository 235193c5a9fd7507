import { createHash, randomBytes } from "node:crypto";
import { mkdtemp, open, rm } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino, type Logger } from "pino";
import type { NodeConfig } from "../env.ts";
import { startStorageNode, type RunningNode, type StartOptions } from "../node.ts";
import type { PipelineHop } from "@cumulus/protocol/node-api";
import type { FakeControlPlane } from "./fake-control-plane.ts";

export function sha256(buf: Uint8Array): string {
  return createHash("sha256").update(buf).digest("hex");
}

export function makeChunk(size: number): { id: string; data: Buffer } {
  const data = randomBytes(size);
  return { id: sha256(data), data };
}

export async function* chunksOf(data: Uint8Array, pieceSize = 64 * 1024): AsyncGenerator<Uint8Array> {
  for (let i = 0; i < data.length; i += pieceSize) yield data.subarray(i, i + pieceSize);
}

/**
 * Stores `data` as chunk `id` on `node` with a PUT, forwarded along `pipeline` when given (the
 * token is then for every node in it); throws unless 201; returns the receipts.
 */
export async function putChunk(
  cp: FakeControlPlane,
  node: TestNode,
  id: string,
  data: Uint8Array,
  pipeline?: PipelineHop[],
): Promise<string[]> {
  const aud = pipeline ? pipeline.map((h) => h.nodeId) : [node.nodeId()];
  const token = await cp.mint({ aud, op: "write", chunks: [id], ...(pipeline ? { pipeline } : {}) });
  const res = await fetch(`${node.url}/chunks/${id}`, {
    method: "PUT",
    body: data,
    headers: { authorization: `Bearer ${token}` },
  });
  if (res.status !== 201) throw new Error(`PUT chunk ${id} to ${node.url}: HTTP ${res.status}: ${await res.text()}`);
  return ((await res.json()) as { receipts: string[] }).receipts;
}

/** Chunk `id`'s bytes from `node` with a GET; throws unless 200. */
export async function getChunk(cp: FakeControlPlane, node: TestNode, id: string): Promise<Buffer> {
  const token = await cp.mint({ aud: [node.nodeId()], op: "read", chunks: [id] });
  const res = await fetch(`${node.url}/chunks/${id}`, { headers: { authorization: `Bearer ${token}` } });
  if (res.status !== 200) throw new Error(`GET chunk ${id} from ${node.url}: HTTP ${res.status}: ${await res.text()}`);
  return Buffer.from(await res.arrayBuffer());
}

/** Where `node` keeps chunk `id` on disk. */
export function chunkFile(node: TestNode, id: string): string {
  return path.join(node.dataDir, "chunks", id.slice(0, 2), id.slice(2, 4), id);
}

/** Flips one byte of chunk `id`'s file on `node`, behind the store's back. */
export async function corruptOnDisk(node: TestNode, id: string): Promise<void> {
  const fh = await open(chunkFile(node, id), "r+");
  try {
    const b = Buffer.alloc(1);
    await fh.read(b, 0, 1, 10);
    b[0] = b[0]! ^ 0xff;
    await fh.write(b, 0, 1, 10);
  } finally {
    await fh.close();
  }
}

export async function tempDir(prefix = "cumulus-node-"): Promise<{ dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(os.tmpdir(), prefix));
  return { dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A logger that keeps its JSON lines in memory, for asserting on what was logged. */
export function memoryLogger(level = "info"): { log: Logger; lines: () => Record<string, unknown>[] } {
  const out: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      out.push(...chunk.toString("utf8").split("\n").filter(Boolean));
      cb();
    },
  });
  const log = pino({ level }, stream);
  return { log, lines: () => out.map((l) => JSON.parse(l) as Record<string, unknown>) };
}

export interface TestNode extends RunningNode {
  dataDir: string;
  nodeId: () => string;
  logs: () => Record<string, unknown>[];
  stop: () => Promise<void>;
}

export async function startTestNode(
  cp: FakeControlPlane | { url: string; joinToken: string },
  name: string,
  overrides: Partial<NodeConfig> = {},
  extra: Partial<Omit<StartOptions, "config" | "log">> & { waitReady?: boolean } = {},
): Promise<TestNode> {
  const { dir, cleanup } = await tempDir(`cumulus-${name}-`);
  const { log, lines } = memoryLogger("info");
  const config: NodeConfig = {
    name,
    site: "test",
    dataDir: dir,
    host: "127.0.0.1",
    port: 0,
    publicUrl: undefined,
    controlUrl: cp.url,
    joinToken: cp.joinToken,
    capacityBytes: undefined,
    shutdownTimeoutMs: 2_000,
    logLevel: "info",
    ...overrides,
  };
  const node = await startStorageNode({
    config,
    log,
    registerBackoffMinMs: 20,
    registerBackoffMaxMs: 100,
    ...extra,
  });
  if (extra.waitReady !== false) await node.ready;
  let stopped = false;
  return {
    ...node,
    dataDir: config.dataDir,
    nodeId: () => {
      if (node.state.nodeId === null) throw new Error(`${name} not registered`);
      return node.state.nodeId;
    },
    logs: lines,
    stop: async () => {
      if (stopped) return;
      stopped = true;
      await node.shutdown();
      if (overrides.dataDir === undefined) await cleanup();
    },
  };
}

/**
 * A store's usage without its free space: that is measured at every heartbeat, and other
 * programs write to the disk meanwhile, so it is not stable between two reads.
 */
export function usageWithoutFree<T extends { availableBytes?: number | undefined }>(u: T): Omit<T, "availableBytes"> {
  const { availableBytes: _free, ...rest } = u;
  return rest;
}
