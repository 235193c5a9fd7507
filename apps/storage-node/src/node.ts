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
import { startUdt, type UdtService } from "./udt/start.ts";
import { WanAwareChunkTransport } from "./udt/replication-transport.ts";
import { ChunkReporter } from "./replication/chunk-reporter.ts";
import { Replicator } from "./replication/replicator.ts";
import { reportMisses } from "./replication/reporting-store.ts";
import { Scrubber } from "./replication/scrubber.ts";
import { HttpChunkTransport, type ChunkTransport } from "./replication/transport.ts";

export const NODE_VERSION: string = pkg.version;

export interface StartOptions {
  config: NodeConfig;
  log: Logger;
  /** Tuning knobs tests turn down; production uses the defaults. */
  registerBackoffMinMs?: number;
  registerBackoffMaxMs?: number;
  forwardIdleTimeoutMs?: number;
  /** How reconciler copies pull chunks from other nodes (default: HTTP). */
  transport?: ChunkTransport;
}

export interface RunningNode {
  readonly port: number;
  readonly url: string;
  /** host:port of the UDT listener (as announced), or null when UDT is off or unavailable. */
  readonly udtAddress: string | null;
  readonly state: NodeState;
  readonly store: ChunkStore;
  readonly identity: NodeIdentity;
  readonly metrics: Metrics;
  /** Background re-hashing of stored chunks (replication/scrubber.ts). */
  readonly scrubber: Scrubber;
  /** Reports corrupt/missing chunks to the control plane. */
  readonly reporter: ChunkReporter;
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
  // Set below, before anything reads a chunk: the store's corrupt hook reports through them.
  let reporter: ChunkReporter | null = null;
  let scrubber: Scrubber | null = null;
  try {
    const identity = await NodeIdentity.loadOrCreate(config.dataDir, config.name, config.site);
    store = await DiskChunkStore.open({
      dataDir: config.dataDir,
      nodeName: config.name,
      capacityBytes: config.capacityBytes,
      onCorrupt: (id, reason) => {
        metrics.corruptChunks += 1;
        log.error({ chunk: id, reason }, "corrupt chunk found and quarantined");
        reporter?.corrupt(id, scrubber?.scrubbing === id ? "scrub" : "read");
      },
      onStrayFile: (file) => log.warn({ file }, "ignoring a file that is not a chunk in the chunk directory"),
    });
    const usage = store.usage();
    log.info({ dataDir: config.dataDir, ...usage }, "chunk store opened");

    const state = new NodeState(config.name, config.site);
    const verifier = new CapabilityVerifier();
    const forwarder = new PipelineForwarder({ idleTimeoutMs: opts.forwardIdleTimeoutMs });
    const chunkReporter = new ChunkReporter({ controlUrl: config.controlUrl, state, identity, log });
    reporter = chunkReporter;
    // Copies from nodes of other sites switch to UDT once it started (src/udt/start.ts).
    const transport = opts.transport ?? new WanAwareChunkTransport(new HttpChunkTransport(), config.site, metrics);
    const replicator = new Replicator({ store, state, identity, transport, metrics, log });
    const nodeScrubber = new Scrubber({
      store,
      log,
      bytesPerSec: config.scrubBytesPerSec ?? 50 * 1024 * 1024,
      passIntervalMs: config.scrubIntervalMs ?? 3600_000,
    });
    scrubber = nodeScrubber;
    const api = new DataApi({
      // A read for a chunk that is not here (with a valid token) is a replica this node lost.
      store: reportMisses(store, (id) => chunkReporter.missing(id, "read")),
      state,
      identity,
      verifier,
      forwarder,
      metrics,
      log,
      replicator,
    });
    const server = new DataServer(api, metrics, log);
    const port = await server.listen(config.host, config.port);
    const url = config.publicUrl ?? `http://${urlHost(config.host)}:${port}`;
    // WAN acceleration: chunk PUT/GET over UDT beside HTTP, and UDT for copies to other sites.
    let udt: UdtService | null;
    try {
      udt = await startUdt({
        config,
        httpPort: port,
        deps: { store, state, identity, verifier, forwarder, metrics, log },
        ...(transport instanceof WanAwareChunkTransport ? { replication: transport } : {}),
      });
    } catch (err) {
      await server.shutdown(0);
      throw err;
    }
    log.info(
      { host: config.host, port, url, controlUrl: config.controlUrl },
      "listening; registering with the control plane",
    );

    const control = new ControlPlaneClient({
      controlUrl: config.controlUrl,
      joinToken: config.joinToken,
      dataUrl: url,
      udtAddress: udt?.address ?? null,
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
      nodeScrubber.start();
    });

    const openedStore = store;
    let stopping: Promise<void> | null = null;
    const shutdown = () =>
      (stopping ??= (async () => {
        const cut = await server.shutdown(config.shutdownTimeoutMs);
        if (cut > 0) log.warn({ cut }, "shutdown deadline reached: in-flight requests were cut");
        await udt?.shutdown(config.shutdownTimeoutMs);
        await nodeScrubber.stop();
        await chunkReporter.stop();
        await control.stop();
        forwarder.close();
        transport.close();
        await openedStore.close();
        await unlock();
      })());

    return {
      port,
      url,
      udtAddress: udt?.address ?? null,
      state,
      store,
      identity,
      metrics,
      scrubber: nodeScrubber,
      reporter: chunkReporter,
      ready,
      shutdown,
    };
  } catch (err) {
    await store?.close();
    await unlock();
    throw err;
  }
}

function urlHost(host: string): string {
  return host.includes(":") && !host.startsWith("[") ? `[${host}]` : host;
}
