import { mkdir } from "node:fs/promises";
import type { Logger } from "pino";
import pkg from "../package.json" with { type: "json" };
import type { NodeConfig } from "./env.ts";
import { DataApi } from "./http/routes.ts";
import { DataServer } from "./http/server.ts";
import type { ChunkStore } from "./store/chunk-store.ts";
import { lockDataDir } from "./store/data-dir-lock.ts";
import { DiskChunkStore } from "./store/disk-chunk-store.ts";
import { NodeIdentity } from "./store/identity.ts";
import { ControlPlaneClient } from "./service/control-client.ts";
import { Metrics } from "./service/metrics.ts";
import { NodeState } from "./service/node-state.ts";
import { PipelineForwarder } from "./service/pipeline.ts";
import { CapabilityVerifier } from "./service/tokens.ts";

export const NODE_VERSION: string = pkg.version;

export interface StartOptions {
  config: NodeConfig;
  log: Logger;
  /** Tuning knobs tests turn down; production uses the defaults. */
  registerBackoffMinMs?: number;
  registerBackoffMaxMs?: number;
  forwardIdleTimeoutMs?: number;
}

export interface RunningNode {
  readonly port: number;
  readonly url: string;
  readonly state: NodeState;
  readonly store: ChunkStore;
  readonly identity: NodeIdentity;
  readonly metrics: Metrics;
  /** Resolves once listening and registered (the "storage node ready" log line). */
  readonly ready: Promise<void>;
  /** Idempotent graceful stop; resolves when everything is closed. */
  shutdown(): Promise<void>;
}

/** The composition root: main.ts adds env and signals, tests call this directly. */
export async function startStorageNode(opts: StartOptions): Promise<RunningNode> {
  const { config, log } = opts;
  await mkdir(config.dataDir, { recursive: true });
  const unlock = await lockDataDir(config.dataDir);
  const metrics = new Metrics();
  let store: DiskChunkStore | undefined;
  try {
    const identity = await NodeIdentity.loadOrCreate(config.dataDir, config.name, config.site);
    store = await DiskChunkStore.open({
      dataDir: config.dataDir,
      nodeName: config.name,
      capacityBytes: config.capacityBytes,
      onCorrupt: (id, reason) => {
        metrics.corruptChunks += 1;
        log.error({ chunk: id, reason }, "corrupt chunk found and quarantined");
      },
      onStrayFile: (file) => log.warn({ file }, "ignoring a file that is not a chunk in the chunk directory"),
    });
    const usage = store.usage();
    log.info({ dataDir: config.dataDir, ...usage }, "chunk store opened");

    const state = new NodeState(config.name, config.site);
    const verifier = new CapabilityVerifier();
    const forwarder = new PipelineForwarder({ idleTimeoutMs: opts.forwardIdleTimeoutMs });
    const api = new DataApi({ store, state, identity, verifier, forwarder, metrics, log });
    const server = new DataServer(api, metrics, log);
    const port = await server.listen(config.host, config.port);
    const url = config.publicUrl ?? `http://${urlHost(config.host)}:${port}`;
    log.info(
      { host: config.host, port, url, controlUrl: config.controlUrl },
      "listening; registering with the control plane",
    );

    const control = new ControlPlaneClient({
      controlUrl: config.controlUrl,
      joinToken: config.joinToken,
      dataUrl: url,
      version: NODE_VERSION,
      identity,
      state,
      verifier,
      store,
      metrics,
      log,
      backoffMinMs: opts.registerBackoffMinMs,
      backoffMaxMs: opts.registerBackoffMaxMs,
    });
    control.start();
    const ready = control.ready.then(() => {
      log.info({ name: config.name, port }, "storage node ready");
    });

    const openedStore = store;
    let stopping: Promise<void> | null = null;
    const shutdown = () =>
      (stopping ??= (async () => {
        const cut = await server.shutdown(config.shutdownTimeoutMs);
        if (cut > 0) log.warn({ cut }, "shutdown deadline reached: in-flight requests were cut");
        await control.stop();
        forwarder.close();
        await openedStore.close();
        await unlock();
      })());

    return { port, url, state, store, identity, metrics, ready, shutdown };
  } catch (err) {
    await store?.close();
    await unlock();
    throw err;
  }
}

function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
