import pg from "pg";

/**
 * A PostgreSQL session-level advisory lock held on a dedicated connection: whoever holds
 * it is the leader of some singleton job. PostgreSQL releases the lock as soon as that
 * connection ends, so a leader that crashes (even kill -9) loses it within the time the
 * server needs to notice the closed socket, and another process can take over.
 *
 * The holder pings its connection; if a ping fails (database restarted, network cut) the
 * lock is reported lost (`onLost`), because the server may already have released it.
 */
export class SessionLock {
  private readonly client: pg.Client;
  private readonly keys: [number, number];
  private ping: NodeJS.Timeout | null = null;
  private lostHandlers: ((reason: string) => void)[] = [];
  private released = false;
  private lostReason: string | null = null;

  private constructor(client: pg.Client, keys: [number, number]) {
    this.client = client;
    this.keys = keys;
  }

  /**
   * Tries once to take the lock `(namespace, id)`; null when someone else holds it.
   * `pingMs` is how often the connection is checked while held.
   */
  static async tryAcquire(
    databaseUrl: string,
    namespace: number,
    id: number,
    opts: { pingMs?: number; connectTimeoutMs?: number; applicationName?: string } = {},
  ): Promise<SessionLock | null> {
    const client = new pg.Client({
      connectionString: databaseUrl,
      keepAlive: true,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 10_000,
      application_name: opts.applicationName ?? "cumulus-leader",
    });
    // An error on an idle connection must not crash the process: it means the lock is lost.
    client.on("error", () => undefined);
    await client.connect();
    try {
      const r = await client.query<{ ok: boolean }>("SELECT pg_try_advisory_lock($1, $2) AS ok", [namespace, id]);
      if (!r.rows[0]?.ok) {
        await client.end().catch(() => undefined);
        return null;
      }
    } catch (err) {
      await client.end().catch(() => undefined);
      throw err;
    }
    const lock = new SessionLock(client, [namespace, id]);
    lock.watch(opts.pingMs ?? 2_000);
    return lock;
  }

  /** Whether the lock is (as far as we know) still ours. */
  get held(): boolean {
    return !this.released && this.lostReason === null;
  }

  onLost(handler: (reason: string) => void): void {
    if (this.lostReason !== null) handler(this.lostReason);
    else this.lostHandlers.push(handler);
  }

  private watch(pingMs: number): void {
    this.client.on("error", (err) => this.lose(`leader connection failed: ${err.message}`));
    this.client.on("end", () => this.lose("leader connection closed"));
    const tick = () => {
      if (!this.held) return;
      const timeout = setTimeout(
        () => this.lose("leader connection did not answer a ping"),
        Math.max(pingMs * 3, 5_000),
      );
      this.client.query("SELECT 1").then(
        () => {
          clearTimeout(timeout);
          if (this.held) this.ping = setTimeout(tick, pingMs);
        },
        (err: Error) => {
          clearTimeout(timeout);
          this.lose(`leader connection ping failed: ${err.message}`);
        },
      );
    };
    this.ping = setTimeout(tick, pingMs);
  }

  private lose(reason: string): void {
    if (this.released || this.lostReason !== null) return;
    this.lostReason = reason;
    if (this.ping) clearTimeout(this.ping);
    // Make sure the server side is gone too, so nobody believes we still lead.
    void this.client.end().catch(() => undefined);
    for (const h of this.lostHandlers.splice(0)) h(reason);
  }

  /** Gives the lock up (and closes its connection). */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    if (this.ping) clearTimeout(this.ping);
    try {
      if (this.lostReason === null) await this.client.query("SELECT pg_advisory_unlock($1, $2)", this.keys);
    } catch {
      // closing the connection releases it anyway
    }
    await this.client.end().catch(() => undefined);
  }
}
