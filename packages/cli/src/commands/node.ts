import { setTimeout as sleep } from "node:timers/promises";
import type { Command } from "commander";
import { AppError } from "@cumulus/protocol/errors";
import type { NodeDrainStatus } from "@cumulus/client/client";
import { Interrupted, type Ctx, type GlobalOpts } from "../context.ts";
import { humanDuration, table } from "../format.ts";

/**
 * `cumulus node list | status | drain | remove` — taking storage nodes out of the cluster
 * (admins). drain moves every chunk off a node (the reconciler copies it elsewhere first,
 * so nothing is ever under-replicated); remove drains, waits until nothing on the node is
 * needed, then decommissions it. Both are safe to interrupt and run again.
 */

export interface WaitOpts extends GlobalOpts {
  wait?: boolean;
  /** Seconds; 0 = no limit. */
  timeout?: number;
  /** Seconds between progress checks. */
  interval?: number;
}

function describe(s: NodeDrainStatus): string {
  const left =
    s.needed > 0 ? `${s.needed} chunk${s.needed === 1 ? "" : "s"} still need its copy` : "nothing needs its copies";
  const sole = s.soleCopies > 0 ? ` (${s.soleCopies} only copies)` : "";
  return `${s.name} (${s.site}) is ${s.status}: ${s.replicas} replica${s.replicas === 1 ? "" : "s"} on it, ${left}${sole}`;
}

function print(ctx: Ctx, s: NodeDrainStatus, opts: GlobalOpts): void {
  if (opts.json) ctx.json(s);
  else ctx.out(describe(s));
}

async function waitFor(
  ctx: Ctx,
  opts: WaitOpts,
  poll: () => Promise<NodeDrainStatus>,
  done: (s: NodeDrainStatus) => boolean,
  what: string,
): Promise<NodeDrainStatus> {
  const started = Date.now();
  const limitMs = (opts.timeout ?? 0) * 1000;
  const everyMs = Math.max(200, (opts.interval ?? 1) * 1000);
  let interrupted = false;
  const off = ctx.io.onInterrupt(() => (interrupted = true));
  try {
    let last = "";
    for (;;) {
      const s = await poll();
      if (done(s)) return s;
      const line = describe(s);
      if (!opts.json && line !== last) ctx.io.stderr.write(`${line}\n`);
      last = line;
      if (interrupted) throw new Interrupted(`interrupted while waiting for ${what}; the node keeps draining`);
      if (limitMs > 0 && Date.now() - started > limitMs) {
        throw new AppError(
          "UNAVAILABLE",
          `${what} did not finish within ${humanDuration(limitMs)} (${line}); it goes on in the background: run the command again to keep waiting`,
        );
      }
      await sleep(everyMs);
    }
  } finally {
    off();
  }
}

export async function nodeList(ctx: Ctx, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const { nodes } = await client.listNodes();
  if (opts.json) return ctx.json(nodes);
  ctx.out(
    table(
      ["NODE", "SITE", "STATUS", "REPLICAS", "NEEDED", "ONLY COPIES"],
      nodes.map((n) => [n.name, n.site, n.status, String(n.replicas), String(n.needed), String(n.soleCopies)]),
      ["left", "left", "left", "right", "right", "right"],
    ),
  );
}

export async function nodeStatus(ctx: Ctx, name: string, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  print(ctx, await client.nodeStatus(name), opts);
}

export async function nodeDrain(ctx: Ctx, name: string, opts: WaitOpts): Promise<void> {
  const client = await ctx.client(opts);
  let s = await client.drainNode(name);
  if (opts.wait)
    s = await waitFor(
      ctx,
      opts,
      () => client.nodeStatus(name),
      (x) => x.drained,
      `the drain of ${name}`,
    );
  print(ctx, s, opts);
}

export async function nodeRemove(ctx: Ctx, name: string, opts: WaitOpts): Promise<void> {
  const client = await ctx.client(opts);
  let s = await client.nodeStatus(name);
  if (s.status !== "decommissioned" && opts.wait !== false) {
    if (s.status !== "draining" && s.needed > 0) s = await client.drainNode(name);
    if (s.needed > 0)
      await waitFor(
        ctx,
        opts,
        () => client.nodeStatus(name),
        (x) => x.needed === 0,
        `the drain of ${name}`,
      );
  }
  s = await client.removeNode(name);
  print(ctx, s, opts);
}

/** Registers the `node` command group. */
export function registerNodeCommands(
  ctx: Ctx,
  program: Command,
  common: (c: Command) => Command,
  positiveInt: (name: string, max?: number) => (v: string) => number,
): void {
  const opts = <T extends GlobalOpts>(c: Command): T => c.optsWithGlobals() as T;
  const node = program.command("node").description("storage nodes: list, drain, remove (admins)");
  common(node.command("list"))
    .description("every storage node, its replicas and how many chunks still need it")
    .action((_o, c: Command) => nodeList(ctx, opts(c)));
  common(node.command("status"))
    .description("drain progress of one node")
    .argument("<name>", "node name")
    .action((name: string, _o, c: Command) => nodeStatus(ctx, name, opts(c)));
  common(node.command("drain"))
    .description("move every chunk off a node; it keeps serving reads until its copies are replaced")
    .argument("<name>", "node name")
    .option("--wait", "wait until the node holds no copy any file needs")
    .option("--timeout <seconds>", "give up waiting after this long (default: no limit)", positiveInt("--timeout"))
    .option("--interval <seconds>", "seconds between progress checks (default 1)", positiveInt("--interval", 3600))
    .action((name: string, _o, c: Command) => nodeDrain(ctx, name, opts<WaitOpts>(c)));
  common(node.command("remove"))
    .description("drain a node, wait until nothing on it is needed, then decommission it")
    .argument("<name>", "node name")
    .option("--no-wait", "do not drain and wait: remove now or fail if the node still holds needed copies")
    .option("--timeout <seconds>", "give up waiting after this long (default: no limit)", positiveInt("--timeout"))
    .option("--interval <seconds>", "seconds between progress checks (default 1)", positiveInt("--interval", 3600))
    .action((name: string, _o, c: Command) => nodeRemove(ctx, name, opts<WaitOpts>(c)));
}
