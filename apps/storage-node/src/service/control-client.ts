import os from "node:os";
import { setTimeout as sleep } from "node:timers/promises";
import type { Logger } from "pino";
import { AppError, ZErrorBody } from "@cumulus/protocol/errors";
import {
  ZHeartbeatResponse,
  ZRegisterNodeResponse,
  type HeartbeatRequest,
  type RegisterNodeRequest,
} from "@cumulus/protocol/node-api";
import type { ChunkStore } from "../store/chunk-store.ts";
import type { NodeIdentity } from "../store/identity.ts";
import type { Metrics } from "./metrics.ts";
import type { NodeState } from "./node-state.ts";
import { signNodeAuth } from "./signing.ts";
import type { CapabilityVerifier } from "./tokens.ts";

export interface ControlClientOptions {
  controlUrl: string;
  joinToken: string;
  dataUrl: string;
  /** host:port of the UDT listener, announced at registration; null without one. */
  udtAddress?: string | null;
  version: string;
  identity: NodeIdentity;
  state: NodeState;
  verifier: CapabilityVerifier;
  store: ChunkStore;
  metrics: Metrics;
  log: Logger;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  requestTimeoutMs?: number;
}

type HeartbeatOutcome = "ok" | "reregister" | "failed";

/**
 * Registration and heartbeats. One loop owns both so they can never overlap: register
 * (retrying with backoff until the control plane answers), then heartbeat on the
 * interval it asked for, and go back to registering when it says our epoch is stale or
 * it no longer knows us.
 */
export class ControlPlaneClient {
  private readonly o: ControlClientOptions;
  private readonly abort = new AbortController();
  private loop: Promise<void> | null = null;
  private intervalMs = 5_000;
  private resolveReady!: () => void;
  /** Resolves on the first successful registration. */
  readonly ready: Promise<void>;

  constructor(opts: ControlClientOptions) {
    this.o = opts;
    this.ready = new Promise((r) => (this.resolveReady = r));
  }

  start(): void {
    this.loop ??= this.run().catch((err: unknown) => {
      if (!this.abort.signal.aborted) this.o.log.error({ err }, "control plane loop crashed");
    });
  }

  async stop(): Promise<void> {
    this.abort.abort();
    await this.loop;
  }

  private async run(): Promise<void> {
    const signal = this.abort.signal;
    while (!signal.aborted) {
      await this.registerUntilAccepted(signal);
      this.resolveReady();
      while (!signal.aborted) {
        await sleep(this.intervalMs, undefined, { signal });
        if ((await this.heartbeat(signal)) === "reregister") {
          this.o.state.registered = false;
          break;
        }
      }
    }
  }

  private async registerUntilAccepted(signal: AbortSignal): Promise<void> {
    const min = this.o.backoffMinMs ?? 250;
    const max = this.o.backoffMaxMs ?? 10_000;
    for (let attempt = 1; ; attempt++) {
      try {
        await this.register(signal);
        return;
      } catch (err) {
        if (signal.aborted) throw err;
        const delay = Math.min(max, min * 2 ** Math.min(attempt - 1, 20));
        // Jitter so a fleet restarted together does not hammer the control plane in step.
        const wait = Math.round(delay / 2 + Math.random() * (delay / 2));
        this.o.log.warn(
          { attempt, retryInMs: wait, controlUrl: this.o.controlUrl, error: describe(err) },
          `registration with the control plane failed (attempt ${attempt}): ${describe(err)}; retrying in ${wait} ms`,
        );
        await sleep(wait, undefined, { signal });
      }
    }
  }

  private async register(signal: AbortSignal): Promise<void> {
    const { identity, state } = this.o;
    const body: RegisterNodeRequest = {
      joinToken: this.o.joinToken,
      name: state.name,
      site: state.site,
      dataUrl: this.o.dataUrl,
      udtAddress: this.o.udtAddress ?? null,
      publicKey: identity.publicJwk,
      usage: await this.o.store.measureUsage(),
      version: this.o.version,
    };
    const res = await this.post("/api/nodes/register", body, undefined, signal);
    if (res.status !== 200 && res.status !== 201) throw errorFrom(res.status, res.json);
    const parsed = ZRegisterNodeResponse.safeParse(res.json);
    if (!parsed.success)
      throw new Error(`control plane sent an invalid registration response: ${parsed.error.message}`);
    const r = parsed.data;
    await this.o.verifier.setKey(r.controlPublicKey);
    await identity.saveRegistration(r.nodeId, r.epoch);
    const previousEpoch = state.epoch;
    state.nodeId = r.nodeId;
    state.epoch = r.epoch;
    state.status = r.status;
    state.registered = true;
    this.intervalMs = r.heartbeatIntervalMs;
    this.o.log.info(
      { nodeId: r.nodeId, epoch: r.epoch, status: r.status, previousEpoch },
      previousEpoch === null ? "registered with the control plane" : "re-registered with the control plane",
    );
  }

  private async heartbeat(signal: AbortSignal): Promise<HeartbeatOutcome> {
    const { state, identity, metrics } = this.o;
    const active = state.active();
    if (active === null) return "reregister";
    const body: HeartbeatRequest = {
      usage: await this.o.store.measureUsage(),
      load: {
        cpu: (os.loadavg()[0] ?? 0) / Math.max(1, os.availableParallelism()),
        inflightRequests: metrics.inflight,
        ...metrics.sampleRates(),
      },
    };
    let res: { status: number; json: unknown };
    try {
      const jwt = await signNodeAuth(identity.privateKey, active.nodeId, active.epoch);
      res = await this.post("/api/nodes/heartbeat", body, jwt, signal);
    } catch (err) {
      if (signal.aborted) throw err;
      this.o.log.warn({ error: describe(err) }, `heartbeat failed: ${describe(err)}`);
      return "failed";
    }
    if (res.status === 200) {
      const parsed = ZHeartbeatResponse.safeParse(res.json);
      if (parsed.success) {
        if (parsed.data.status !== state.status) {
          this.o.log.info({ from: state.status, to: parsed.data.status }, "control plane changed this node's status");
        }
        state.status = parsed.data.status;
        this.intervalMs = parsed.data.heartbeatIntervalMs;
        return "ok";
      }
      this.o.log.warn("control plane sent an invalid heartbeat response");
      return "failed";
    }
    const err = errorFrom(res.status, res.json);
    // STALE_EPOCH: someone registered this node again since. 401/404: the control plane
    // lost or refuses our identity (DB reset, node deleted). Either way, start over.
    if ((res.status === 409 && err.code === "STALE_EPOCH") || res.status === 401 || res.status === 404) {
      this.o.log.warn(
        { status: res.status, code: err.code, epoch: active.epoch },
        `control plane rejected the heartbeat (${err.code}: ${err.message}); re-registering`,
      );
      return "reregister";
    }
    this.o.log.warn({ status: res.status, code: err.code }, `heartbeat failed: ${err.code}: ${err.message}`);
    return "failed";
  }

  private async post(
    path: string,
    body: unknown,
    bearer: string | undefined,
    signal: AbortSignal,
  ): Promise<{ status: number; json: unknown }> {
    const timeout = AbortSignal.timeout(this.o.requestTimeoutMs ?? 10_000);
    const res = await fetch(`${this.o.controlUrl}${path}`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        ...(bearer ? { authorization: `Bearer ${bearer}` } : {}),
      },
      body: JSON.stringify(body),
      signal: AbortSignal.any([signal, timeout]),
    });
    const text = await res.text();
    let json: unknown = null;
    try {
      json = text ? JSON.parse(text) : null;
    } catch {
      // Not JSON (proxy error page): the status says enough.
    }
    return { status: res.status, json };
  }
}

function errorFrom(status: number, json: unknown): AppError {
  if (ZErrorBody.safeParse(json).success) return AppError.fromBody(json, status);
  return new AppError(status >= 500 ? "UNAVAILABLE" : "INTERNAL", `control plane answered HTTP ${status}`);
}

function describe(err: unknown): string {
  if (err instanceof AppError) return `${err.code}: ${err.message}`;
  if (err instanceof Error) {
    const cause = err.cause as { code?: unknown; message?: unknown } | undefined;
    const detail =
      typeof cause?.code === "string" ? cause.code : typeof cause?.message === "string" ? cause.message : "";
    return detail ? `${err.message} (${detail})` : err.message;
  }
  return String(err);
}
