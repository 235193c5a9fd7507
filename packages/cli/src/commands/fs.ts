import { AppError } from "@cumulus/protocol/errors";
import { normalizePath } from "@cumulus/protocol/paths";
import type { Entry } from "@cumulus/client/client";
import type { Ctx, GlobalOpts } from "../context.ts";
import { humanSize, shortDate, table } from "../format.ts";

function entryJson(e: Entry) {
  return {
    name: e.name,
    type: e.type,
    size: e.size,
    path: e.path,
    modifiedAt: e.modifiedAt,
    version: e.version,
    owner: e.owner,
    id: e.id,
  };
}

export async function ls(ctx: Ctx, rawPath: string | undefined, opts: GlobalOpts & { long?: boolean }): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath ?? "");
  // Like ls(1), a file argument lists the file itself (the server does that).
  const entries = (await client.list(path)).entries;
  entries.sort((a, b) =>
    a.type === b.type ? (a.name < b.name ? -1 : a.name > b.name ? 1 : 0) : a.type === "folder" ? -1 : 1,
  );
  if (opts.json) return ctx.json(entries.map(entryJson));
  if (!opts.long) return ctx.out(entries.map((e) => (e.type === "folder" ? `${e.name}/` : e.name)).join("\n"));
  ctx.out(
    table(
      ["TYPE", "SIZE", "VERSION", "MODIFIED", "NAME"],
      entries.map((e) => [
        e.type,
        e.type === "folder" ? "-" : humanSize(e.size),
        e.version === null ? "-" : String(e.version),
        shortDate(e.modifiedAt),
        e.type === "folder" ? `${e.name}/` : e.name,
      ]),
      ["left", "right", "right", "left", "left"],
    ),
  );
}

export async function mkdir(ctx: Ctx, rawPath: string, opts: GlobalOpts & { parents?: boolean }): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  const e = await client.mkdir(path, { parents: opts.parents ?? false });
  if (opts.json) return ctx.json(entryJson(e));
  ctx.out(`created ${e.path}`);
}

export async function rm(ctx: Ctx, rawPath: string, opts: GlobalOpts & { recursive?: boolean }): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  const item = await client.delete(path, { recursive: opts.recursive ?? false });
  if (opts.json) return ctx.json(item);
  ctx.out(`moved ${item.originalPath} to the trash; \`cumulus trash restore ${item.id}\` brings it back`);
}

export async function mv(ctx: Ctx, rawFrom: string, rawTo: string, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const from = await ctx.remotePath(client, rawFrom);
  let to = await ctx.remotePath(client, rawTo);
  // Like mv(1): moving onto an existing folder moves into it, keeping the name.
  const target = await client.statIfExists(to);
  if (target?.entry.type === "folder") {
    const name = normalizePath(from).split("/").pop();
    if (!name) throw new AppError("BAD_REQUEST", "cannot move /");
    to = `${target.path.replace(/\/+$/, "")}/${name}`;
  }
  const e = await client.move(from, to);
  if (opts.json) return ctx.json(entryJson(e));
  ctx.out(`moved ${from} to ${e.path}`);
}

export async function stat(ctx: Ctx, rawPath: string, opts: GlobalOpts & { version?: number }): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  const st = await client.stat(path, opts.version !== undefined ? { version: opts.version } : {});
  const chunks = st.chunks.map((c) => ({
    id: c.id,
    size: c.size,
    offset: c.offset,
    replicas: c.replicas.map((r) => ({ node: r.node, site: r.site, state: r.state, nodeId: r.nodeId })),
    ...(c.live !== undefined ? { live: c.live } : {}),
    ...(c.target !== undefined ? { target: c.target } : {}),
  }));
  if (opts.json) {
    return ctx.json({
      path: st.path,
      type: st.entry.type,
      size: st.size,
      version: st.version,
      versions: st.versions,
      modifiedAt: st.entry.modifiedAt,
      owner: st.entry.owner,
      policy: st.policy,
      chunks,
    });
  }
  const p = st.policy;
  const policy = [
    `${p.replicas} replica${p.replicas === 1 ? "" : "s"}`,
    p.requiredSites.length ? `sites ${p.requiredSites.join(", ")}` : "",
    p.allowedSites.length ? `only in ${p.allowedSites.join(", ")}` : "",
    p.pinnedNodes.length ? `pinned to ${p.pinnedNodes.join(", ")}` : "",
  ]
    .filter(Boolean)
    .join(", ");
  const lines = [
    table(null, [
      ["Path:", st.path],
      ["Type:", st.entry.type],
      ["Size:", `${humanSize(st.size)} (${st.size} bytes)`],
      ...(st.entry.type === "file" ? [["Version:", `${st.version ?? "-"} of ${st.versions}`]] : []),
      ["Modified:", shortDate(st.entry.modifiedAt)],
      ["Owner:", st.entry.owner ?? "-"],
      ["Policy:", policy],
      ...(st.entry.type === "file" ? [["Chunks:", String(chunks.length)]] : []),
      ...(chunks.some((c) => c.target !== undefined) ? [["Replication:", replication(chunks)]] : []),
    ]),
  ];
  if (chunks.length > 0) {
    lines.push(
      "",
      table(
        ["#", "OFFSET", "SIZE", "CHUNK", "COPIES", "REPLICAS"],
        chunks.map((c, i) => [
          String(i),
          String(c.offset),
          humanSize(c.size),
          c.id.slice(0, 16),
          c.target !== undefined ? `${c.live ?? 0}/${c.target}` : "-",
          c.replicas.length === 0
            ? "(none)"
            : c.replicas.map((r) => `${r.node} (${r.site})${r.state === "stored" ? "" : ` [${r.state}]`}`).join(", "),
        ]),
        ["right", "right", "right", "left", "right", "left"],
      ),
    );
  }
  ctx.out(lines.join("\n"));
}

/** "12 of 12 chunks at their target (2 copies)", or how far a repair or policy change has got. */
function replication(chunks: { live?: number; target?: number }[]): string {
  const at = chunks.filter((c) => (c.live ?? 0) >= (c.target ?? 0)).length;
  const targets = [...new Set(chunks.map((c) => c.target ?? 0))].sort((a, b) => a - b);
  const want =
    targets.length === 1 ? `${targets[0]} cop${targets[0] === 1 ? "y" : "ies"}` : `${targets.join("/")} copies`;
  const copies = chunks.reduce((s, c) => s + Math.min(c.live ?? 0, c.target ?? 0), 0);
  const needed = chunks.reduce((s, c) => s + (c.target ?? 0), 0);
  return `${at} of ${chunks.length} chunks at their target (${want} each); ${copies} of ${needed} copies in place`;
}

export async function versions(ctx: Ctx, rawPath: string, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  const v = await client.versions(path);
  if (opts.json) return ctx.json(v);
  ctx.out(
    table(
      ["VERSION", "SIZE", "CHUNKS", "CREATED", "BY", ""],
      v.versions.map((x) => [
        String(x.number),
        humanSize(x.size),
        String(x.chunkCount),
        shortDate(x.createdAt),
        x.createdBy ?? "-",
        x.current ? "current" : "",
      ]),
      ["right", "right", "right", "left", "left", "left"],
    ),
  );
}

export async function restore(ctx: Ctx, rawPath: string, opts: GlobalOpts & { version: number }): Promise<void> {
  const client = await ctx.client(opts);
  const path = await ctx.remotePath(client, rawPath);
  const r = await client.restoreVersion(path, opts.version);
  if (opts.json)
    return ctx.json({ path: r.entry.path, restoredFrom: opts.version, version: r.version, entry: entryJson(r.entry) });
  ctx.out(`restored ${r.entry.path} to the content of version ${opts.version} (now version ${r.version})`);
}

export async function trashList(ctx: Ctx, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const t = await client.trash();
  if (opts.json) return ctx.json(t.items);
  if (t.items.length === 0) return ctx.out("the trash is empty");
  ctx.out(
    table(
      ["ID", "TYPE", "SIZE", "TRASHED", "ORIGINAL PATH"],
      t.items.map((i) => [
        i.id,
        i.type,
        i.type === "folder" ? "-" : humanSize(i.size),
        shortDate(i.trashedAt),
        i.originalPath,
      ]),
      ["left", "left", "right", "left", "left"],
    ),
  );
}

export async function trashRestore(ctx: Ctx, id: string, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  if (!/^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i.test(id)) {
    throw new AppError("BAD_REQUEST", `${JSON.stringify(id)} is not a trash item id: cumulus trash lists them`);
  }
  const e = await client.restoreTrash(id);
  if (opts.json) return ctx.json(entryJson(e));
  ctx.out(`restored ${e.path}`);
}
