import type { Logger } from "pino";
import { PgListener } from "@cumulus/db/listen";
import { CHANGE_CHANNEL } from "./record.ts";

/**
 * Wakes the change feed's long-polls when a change commits. recordChanges() sends a NOTIFY
 * in the writing transaction, so it arrives after the commit; one LISTENing connection per
 * control-plane process then replaces a query every 200 ms for every waiting sync agent,
 * and an agent hears of a change at once rather than on the next poll.
 *
 * `mark()` before reading the feed and `wait(mark, …)` after an empty read cannot miss a
 * change committed in between: any announcement after the mark ends the wait at once.
 */
export class ChangeSignal {
  private generation = 0;
  private waiters = new Set<() => void>();
  private readonly listener: PgListener;
  private started = false;

  constructor(databaseUrl: string, log: Logger) {
    // Said once per outage, not at every retry (a proxy that cannot LISTEN fails each one).
    let quiet = false;
    this.listener = new PgListener(
      databaseUrl,
      CHANGE_CHANNEL,
      {
        onNotify: () => this.announce(),
        // Whatever was announced while the connection was down is lost: every waiter looks again.
        onConnect: () => {
          if (quiet) log.info("change feed listener is back; long-polls wake on commit again");
          quiet = false;
          this.announce();
        },
        onDisconnect: (err) => {
          if (!quiet) log.warn({ err: err.message }, "change feed listener is down; long-polls poll every 200 ms");
          quiet = true;
          this.announce();
        },
      },
      { maxRetryMs: 30_000 },
    );
  }

  /** Connects on first use (not when the context is built, which also happens at build time). */
  start(): void {
    if (this.started) return;
    this.started = true;
    this.listener.start();
  }

  async stop(): Promise<void> {
    this.started = false;
    this.announce();
    await this.listener.stop();
  }

  /** True while announcements arrive; when false, readers must poll. */
  get live(): boolean {
    return this.listener.connected;
  }

  mark(): number {
    return this.generation;
  }

  /** Resolves at the first announcement after `mark`, after `ms`, or when `signal` aborts. */
  wait(mark: number, ms: number, signal?: AbortSignal): Promise<void> {
    if (this.generation !== mark || signal?.aborted || ms <= 0) return Promise.resolve();
    return new Promise<void>((resolve) => {
      const done = () => {
        clearTimeout(timer);
        this.waiters.delete(done);
        signal?.removeEventListener("abort", done);
        resolve();
      };
      const timer = setTimeout(done, ms);
      this.waiters.add(done);
      signal?.addEventListener("abort", done, { once: true });
    });
  }

  private announce(): void {
    this.generation++;
    const waiting = [...this.waiters];
    this.waiters.clear();
    for (const done of waiting) done();
  }
}
