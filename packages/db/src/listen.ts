import { randomUUID } from "node:crypto";
import pg from "pg";

/** Payloads that start with this are the listener's own probes, never passed on. */
const PROBE_PREFIX = "cumulus-probe:";

export type ListenerEvents = {
  /** A NOTIFY on the channel (payload as sent). */
  onNotify(payload: string): void;
  /**
   * The listener (re)connected and is LISTENing: notifications sent while it was away are
   * lost, so whoever relies on them must look again.
   */
  onConnect?(): void;
  /** The connection failed or dropped; the listener keeps retrying. */
  onDisconnect?(err: Error): void;
};

export type ListenerOptions = {
  /** First retry after this long, doubling up to `maxRetryMs`. Default 250. */
  retryMs?: number;
  maxRetryMs?: number;
  /**
   * After LISTEN, send a probe NOTIFY over a separate connection to this URL (default: the
   * listener's own) and count as connected only once it arrives, within `probeTimeoutMs`
   * (default 5 s). Behind a transaction-pooling proxy (PgBouncer) LISTEN succeeds and then
   * hears nothing; the probe makes that a failure instead of a silence.
   */
  probeUrl?: string;
  probeTimeoutMs?: number;
};

/**
 * One dedicated connection LISTENing on a channel, reconnecting for as long as it runs.
 * A pooled connection cannot LISTEN (it would hear nothing once returned to the pool), so
 * this holds its own, outside the Prisma pool.
 */
export class PgListener {
  private client: pg.Client | null = null;
  private stopped = false;
  private retryTimer: NodeJS.Timeout | null = null;
  private failures = 0;
  private _connected = false;
  private readonly url: string;
  private readonly channel: string;
  private readonly events: ListenerEvents;
  private readonly options: ListenerOptions;

  constructor(url: string, channel: string, events: ListenerEvents, options: ListenerOptions = {}) {
    if (!/^[a-z_][a-z0-9_]*$/.test(channel)) throw new Error(`invalid channel name: ${channel}`);
    this.url = url;
    this.channel = channel;
    this.events = events;
    this.options = options;
  }

  /** True while LISTENing; false while connecting or after a drop. */
  get connected(): boolean {
    return this._connected;
  }

  start(): void {
    void this.connect();
  }

  async stop(): Promise<void> {
    this.stopped = true;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this._connected = false;
    const client = this.client;
    this.client = null;
    await client?.end().catch(() => undefined);
  }

  private async connect(): Promise<void> {
    if (this.stopped) return;
    const client = new pg.Client({ connectionString: this.url, connectionTimeoutMillis: 10_000 });
    this.client = client;
    let failed = false;
    const fail = (err: Error) => {
      if (failed || this.stopped || this.client !== client) return;
      failed = true;
      this._connected = false;
      this.client = null;
      client.end().catch(() => undefined);
      this.events.onDisconnect?.(err);
      const base = this.options.retryMs ?? 250;
      const delay = Math.min(this.options.maxRetryMs ?? 10_000, base * 2 ** Math.min(this.failures, 8));
      this.failures++;
      this.retryTimer = setTimeout(() => void this.connect(), delay);
      this.retryTimer.unref();
    };
    client.on("error", fail);
    client.on("end", () => fail(new Error("connection closed")));
    let probeHeard: (() => void) | null = null;
    const probe = `${PROBE_PREFIX}${randomUUID()}`;
    client.on("notification", (n) => {
      if (n.channel !== this.channel) return;
      const payload = n.payload ?? "";
      if (payload.startsWith(PROBE_PREFIX)) {
        if (payload === probe) probeHeard?.();
        return;
      }
      this.events.onNotify(payload);
    });
    try {
      await client.connect();
      await client.query(`LISTEN ${this.channel}`);
      const ms = this.options.probeTimeoutMs ?? 5_000;
      const heard = new Promise<boolean>((resolve) => {
        probeHeard = () => resolve(true);
        setTimeout(() => resolve(false), ms).unref();
      });
      await this.sendProbe(probe);
      if (!(await heard)) {
        throw new Error(
          `LISTEN ${this.channel} heard nothing within ${ms} ms (is PostgreSQL behind a transaction-pooling proxy?)`,
        );
      }
    } catch (err) {
      fail(err instanceof Error ? err : new Error(String(err)));
      return;
    }
    if (this.stopped || this.client !== client) {
      await client.end().catch(() => undefined);
      return;
    }
    this.failures = 0;
    this._connected = true;
    this.events.onConnect?.();
  }

  private async sendProbe(payload: string): Promise<void> {
    const sender = new pg.Client({
      connectionString: this.options.probeUrl ?? this.url,
      connectionTimeoutMillis: 10_000,
    });
    sender.on("error", () => undefined);
    try {
      await sender.connect();
      await sender.query("SELECT pg_notify($1, $2)", [this.channel, payload]);
    } finally {
      await sender.end().catch(() => undefined);
    }
  }
}
