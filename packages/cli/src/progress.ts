import cliProgress from "cli-progress";
import type { TransferProgress } from "@cumulus/client/progress";
import type { Ctx, GlobalOpts } from "./context.ts";
import { humanSize } from "./format.ts";

/**
 * One bar for a whole put/get (all files together), on stderr so stdout stays the
 * command's result. Absent unless a human is watching a terminal.
 */
export class TransferBar {
  private readonly bar: cliProgress.SingleBar | null;
  private readonly upload: boolean;
  private readonly perFile = new Map<string, number>();
  private readonly started = Date.now();
  private total: number;
  private chunks = 0;
  private skipped = 0;

  constructor(ctx: Ctx, opts: GlobalOpts, verb: string, totalBytes: number) {
    this.total = totalBytes;
    this.upload = verb === "put";
    if (!ctx.interactive(opts)) {
      this.bar = null;
      return;
    }
    this.bar = new cliProgress.SingleBar(
      {
        stream: ctx.io.stderr as NodeJS.WritableStream,
        format: `${verb} {bar} {percentage}% | {done} of {totalHuman} | {speed} | {status}`,
        barsize: 24,
        hideCursor: true,
        clearOnComplete: true,
        stopOnComplete: false,
        fps: 8,
      },
      cliProgress.Presets.shades_classic,
    );
    this.bar.start(Math.max(1, totalBytes), 0, this.payload(0, ""));
  }

  update(key: string, label: string, p: Readonly<TransferProgress>): void {
    if (!this.bar) return;
    if (p.phase === "hashing") {
      this.bar.update(
        this.done(),
        this.payload(this.done(), `hashing ${label} ${Math.floor((100 * p.bytesDone) / Math.max(1, p.bytesTotal))}%`),
      );
      return;
    }
    this.perFile.set(key, p.bytesDone);
    if (p.phase === "done") {
      this.chunks += p.chunksTransferred;
      this.skipped += p.chunksSkipped;
    }
    const done = this.done();
    const status =
      p.phase === "committing"
        ? `committing ${label}`
        : p.phase !== "done"
          ? label
          : this.upload
            ? `${this.chunks} chunks sent, ${this.skipped} already stored`
            : `${this.chunks} chunks verified`;
    this.bar.update(done, this.payload(done, status));
  }

  stop(): void {
    this.bar?.stop();
  }

  private done(): number {
    let d = 0;
    for (const v of this.perFile.values()) d += v;
    return Math.min(d, this.total);
  }

  private payload(done: number, status: string) {
    const secs = (Date.now() - this.started) / 1000;
    return {
      done: humanSize(done),
      totalHuman: humanSize(this.total),
      speed: secs > 0.5 ? `${humanSize(done / secs)}/s` : "-",
      status,
    };
  }
}
