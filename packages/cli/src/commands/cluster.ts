import { AppError } from "@cumulus/protocol/errors";
import type { SetPolicyInput } from "@cumulus/client/client";
import type { Ctx, GlobalOpts } from "../context.ts";
import { humanSize, percent, shortDate, table } from "../format.ts";

export async function sysinfo(ctx: Ctx, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const s = await client.sysinfo();
  if (opts.json) return ctx.json(s);
  const nodes = [...s.nodes].sort((a, b) =>
    a.site === b.site ? (a.name < b.name ? -1 : 1) : a.site < b.site ? -1 : 1,
  );
  const active = nodes.filter((n) => n.status === "active").length;
  const cap = nodes.reduce((a, n) => a + n.capacityBytes, 0);
  const used = nodes.reduce((a, n) => a + n.usedBytes, 0);
  const full = nodes.filter((n) => n.full && n.status === "active").map((n) => n.name);
  ctx.out(
    [
      `Sites: ${s.sites.map((x) => `${x.name} (${x.nodes} node${x.nodes === 1 ? "" : "s"})`).join(", ") || "none"}`,
      `Nodes: ${active} of ${nodes.length} active; ${humanSize(used)} used of ${humanSize(cap)} (${percent(used, cap)})`,
      "",
      table(
        ["NODE", "SITE", "STATUS", "CAPACITY", "USED", "USE%", "FREE", "CHUNKS", "LAST HEARTBEAT"],
        nodes.map((n) => [
          n.name,
          n.site,
          n.full ? `${n.status} (full)` : n.status,
          humanSize(n.capacityBytes),
          humanSize(n.usedBytes),
          percent(n.usedBytes, n.capacityBytes),
          humanSize(n.availableBytes),
          String(n.chunks),
          shortDate(n.lastHeartbeatAt),
        ]),
        ["left", "left", "left", "right", "right", "right", "right", "right", "left"],
      ),
      "",
      `Chunks: ${s.chunks}   Replicas: ${s.replicas}   Under-replicated: ${s.underReplicated}   Over-replicated: ${s.overReplicated}   Misplaced: ${s.misplaced}`,
      ...(full.length > 0
        ? [`Full (no new replicas until they have room): ${full.join(", ")}: free space there, or add nodes`]
        : []),
      `Repair: ${s.repair.state}; ${s.repair.queued} queued, ${s.repair.running} running; ${humanSize(s.repair.bytesPerSec)}/s now; ${humanSize(s.repair.bytesLastMinute)} in the last minute (${s.repair.copiesLastMinute} copies, ${s.repair.deletesLastMinute} deletes)${s.repair.unavailable > 0 ? `; ${s.repair.unavailable} chunks have no live copy` : ""}`,
    ].join("\n"),
  );
}

export async function policyGet(ctx: Ctx, rawPath: string, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  printPolicy(ctx, await client.getPolicy(path), opts);
}

export interface PolicySetOpts extends GlobalOpts {
  replicas?: number;
  inherit?: boolean;
  sites?: string[];
  allowedSites?: string[];
  pin?: string[];
}

export async function policySet(ctx: Ctx, rawPath: string, opts: PolicySetOpts): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  if (opts.inherit && opts.replicas !== undefined)
    throw new AppError("BAD_REQUEST", "give either --replicas N or --inherit, not both");
  const input: SetPolicyInput = { path };
  if (opts.replicas !== undefined) input.replicas = opts.replicas;
  if (opts.inherit) input.replicas = null;
  if (opts.sites) input.requiredSites = opts.sites;
  if (opts.allowedSites) input.allowedSites = opts.allowedSites;
  if (opts.pin) input.pinnedNodes = opts.pin;
  if (Object.keys(input).length === 1) {
    throw new AppError(
      "BAD_REQUEST",
      "nothing to set: give --replicas N, --inherit, --sites, --allowed-sites or --pin",
    );
  }
  printPolicy(ctx, await client.setPolicy(input), opts);
}

function printPolicy(
  ctx: Ctx,
  p: Awaited<ReturnType<Awaited<ReturnType<Ctx["client"]>>["getPolicy"]>>,
  opts: GlobalOpts,
): void {
  if (opts.json) return ctx.json(p);
  const list = (xs: string[]) => (xs.length ? xs.join(", ") : "-");
  const e = p.effective;
  const x = p.explicit;
  ctx.out(
    table(
      ["", "EFFECTIVE", "SET HERE"],
      [
        [
          "replicas",
          String(e.replicas),
          x?.replicas === null || x?.replicas === undefined ? "(inherited)" : String(x.replicas),
        ],
        ["required sites", list(e.requiredSites), x ? list(x.requiredSites) : "-"],
        ["allowed sites", e.allowedSites.length ? e.allowedSites.join(", ") : "(all)", x ? list(x.allowedSites) : "-"],
        ["pinned nodes", list(e.pinnedNodes), x ? list(x.pinnedNodes) : "-"],
      ],
    ) +
      `\n\nPolicy of ${p.path}; the replica count comes from ${p.inheritedFrom === "default" ? "the cluster default" : p.inheritedFrom}.`,
  );
  // On stderr, so scripts reading the table are not thrown by it, and a person still sees it.
  if (p.warning) ctx.io.stderr.write(`cumulus: warning: ${p.warning}\n`);
}
