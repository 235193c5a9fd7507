import { Readable } from "node:stream";
import { ZipArchive } from "archiver";
import { AppError } from "@cumulus/protocol/errors";
import type { ControlContext } from "../context.ts";
import { fileVersion } from "../downloads/plan-download.ts";
import { ChunkSource, type FetchFn } from "./chunk-source.ts";
import { fileBytes, iteratorStream } from "./file-bytes.ts";
import { contentDisposition, contentTypeFor, etagMatches, parseRange, safeInline } from "./http.ts";

export type GatewayRequest = { method: string; headers: { get(name: string): string | null } };

export type GatewayOptions = {
  site?: string | null;
  /** Capability subject: "user:<id>", "link:<id>", "public". */
  sub: string;
  /** "attachment" (a download) or "inline" when the type is safe to show in place. */
  disposition?: "attachment" | "inline";
  /**
   * Called once before a body that counts as a download is sent (a whole file, a range
   * that starts at byte 0, a zip); throwing refuses the request. Link download limits use it.
   */
  beforeDownload?: () => Promise<void>;
  fetch?: FetchFn;
  prefetch?: number;
};

type FileEntry = { id: string; name: string; type: "file" | "folder"; currentVersionId: string | null };

const SECURITY_HEADERS = {
  "x-content-type-options": "nosniff",
  // Whatever a downloaded file contains, it never runs with this origin's privileges.
  "content-security-policy": "sandbox; default-src 'none'",
  "referrer-policy": "no-referrer",
};

/**
 * A file (current or given version) as an HTTP response: Content-Length, ETag (the
 * version's content hash), Content-Disposition, Range (206 / 416), If-None-Match (304),
 * If-Range, HEAD. Bytes are fetched from the storage nodes as the client reads them.
 */
export async function fileResponse(
  ctx: ControlContext,
  req: GatewayRequest,
  entry: FileEntry,
  path: string,
  version: number | undefined,
  opts: GatewayOptions,
): Promise<Response> {
  const { version: v, chunks } = await fileVersion(ctx.prisma, entry, path, version);
  const size = Number(v.size);
  const etag = `"${v.contentHash}"`;
  const type = contentTypeFor(entry.name);
  const disposition = opts.disposition === "inline" && safeInline(type) ? "inline" : "attachment";
  const base: Record<string, string> = {
    ...SECURITY_HEADERS,
    "content-type": type,
    "content-disposition": contentDisposition(disposition, entry.name),
    etag,
    "last-modified": v.createdAt.toUTCString(),
    "accept-ranges": "bytes",
    "cache-control": "private, no-cache, no-transform",
    "x-cumulus-version": String(v.number),
  };
  if (etagMatches(req.headers.get("if-none-match"), etag)) {
    return new Response(null, { status: 304, headers: base });
  }
  const ifRange = req.headers.get("if-range");
  const rangeHeader = ifRange && !etagMatches(ifRange, etag) ? null : req.headers.get("range");
  const parsed = parseRange(rangeHeader, size);
  if (parsed.kind === "unsatisfiable") {
    return new Response(
      JSON.stringify(
        new AppError(
          "BAD_REQUEST",
          `range ${rangeHeader} is not satisfiable: ${entry.name} has ${size} bytes`,
        ).toBody(),
      ),
      {
        status: 416,
        headers: { ...SECURITY_HEADERS, "content-type": "application/json", "content-range": `bytes */${size}` },
      },
    );
  }
  const range = parsed.kind === "range" ? parsed.range : null;
  const length = range ? range.end - range.start + 1 : size;
  const headers: Record<string, string> = { ...base, "content-length": String(length) };
  if (range) headers["content-range"] = `bytes ${range.start}-${range.end}/${size}`;
  const status = range ? 206 : 200;
  if (req.method === "HEAD") return new Response(null, { status, headers });

  if (!range || range.start === 0) await opts.beforeDownload?.();
  const refs = chunks.map((c) => ({ chunkId: c.chunkId, offset: Number(c.offset), size: c.size }));
  const source = await ChunkSource.create(
    ctx,
    refs.map((c) => c.chunkId),
    `${path} (version ${v.number})`,
    { site: opts.site ?? null, sub: opts.sub, ...(opts.fetch ? { fetch: opts.fetch } : {}) },
  );
  const ac = new AbortController();
  const it = fileBytes(source, refs, range, {
    signal: ac.signal,
    ...(opts.prefetch ? { prefetch: opts.prefetch } : {}),
  });
  const body = iteratorStream(logErrors(ctx, it, path), () => ac.abort(new Error("client went away")));
  return new Response(body, { status, headers });
}

async function* logErrors<T>(ctx: ControlContext, it: AsyncGenerator<T>, what: string): AsyncGenerator<T> {
  try {
    yield* it;
  } catch (err) {
    ctx.log.error({ err: err instanceof Error ? err.message : String(err), what }, "gateway: download broken off");
    throw err;
  }
}

type TreeItem = { rel: string; type: "file" | "folder"; entry: FileEntry; updatedAt: Date };

/** Live entries below a folder, depth first, each folder's children by name. */
async function* walk(ctx: ControlContext, folderId: string, prefix: string): AsyncGenerator<TreeItem> {
  const children = await ctx.prisma.entry.findMany({
    where: { parentId: folderId, liveName: { not: null } },
    select: { id: true, name: true, type: true, currentVersionId: true, updatedAt: true },
  });
  children.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const c of children) {
    const rel = `${prefix}/${c.name}`;
    yield { rel, type: c.type, entry: c, updatedAt: c.updatedAt };
    if (c.type === "folder") yield* walk(ctx, c.id, rel);
  }
}

/**
 * A folder as a zip streamed entry by entry (stored, not compressed: most bulky content
 * is compressed already and the gateway's CPU is better spent elsewhere). Each file's
 * bytes are fetched from the nodes as the zip is read; nothing is buffered beyond the
 * chunks in flight. A file that cannot be read breaks the download off (the client sees
 * an incomplete zip), rather than silently leaving it out.
 */
export async function zipResponse(
  ctx: ControlContext,
  req: GatewayRequest,
  folder: { id: string; name: string },
  path: string,
  opts: GatewayOptions,
): Promise<Response> {
  const root = folder.name || "cumulus";
  const headers: Record<string, string> = {
    ...SECURITY_HEADERS,
    "content-type": "application/zip",
    "content-disposition": contentDisposition("attachment", `${root}.zip`),
    "cache-control": "private, no-store, no-transform",
  };
  if (req.method === "HEAD") return new Response(null, { status: 200, headers });
  await opts.beforeDownload?.();

  const archive = new ZipArchive({ store: true, forceZip64: false });
  const ac = new AbortController();
  archive.on("warning", (err) => ctx.log.warn({ err: err.message, path }, "gateway: zip warning"));
  // Without a listener an archiver error would crash the process; the body stream reports it.
  archive.on("error", () => undefined);

  const nextEntry = () =>
    new Promise<void>((resolve, reject) => {
      const onEntry = () => {
        archive.off("error", onError);
        resolve();
      };
      const onError = (err: Error) => {
        archive.off("entry", onEntry);
        reject(err);
      };
      archive.once("entry", onEntry);
      archive.once("error", onError);
    });

  const feed = async () => {
    for await (const item of walk(ctx, folder.id, root)) {
      if (ac.signal.aborted) return;
      if (item.type === "folder") {
        const done = nextEntry();
        archive.append(Buffer.alloc(0), { name: `${item.rel}/`, date: item.updatedAt, type: "directory" });
        await done;
        continue;
      }
      const what = `${path}${item.rel.slice(root.length)}`;
      const src = Readable.from(lazyFile(ctx, item.entry, what, opts, ac.signal), { objectMode: false });
      const done = nextEntry();
      archive.append(src, { name: item.rel, date: item.updatedAt });
      await done;
    }
    await archive.finalize();
  };
  feed().catch((err: unknown) => {
    if (ac.signal.aborted) return;
    ctx.log.error({ err: err instanceof Error ? err.message : String(err), path }, "gateway: zip broken off");
    archive.destroy(err instanceof Error ? err : new Error(String(err)));
  });

  const it = (archive as unknown as AsyncIterable<Uint8Array>)[Symbol.asyncIterator]();
  const body = iteratorStream(it, () => {
    ac.abort(new Error("client went away"));
    archive.abort();
  });
  return new Response(body, { status: 200, headers });
}

/** One file's bytes inside a zip: planned only when the archiver starts reading it. */
async function* lazyFile(
  ctx: ControlContext,
  entry: FileEntry,
  what: string,
  opts: GatewayOptions,
  signal: AbortSignal,
): AsyncGenerator<Buffer> {
  if (!entry.currentVersionId) return;
  const { version, chunks } = await fileVersion(ctx.prisma, entry, what);
  if (chunks.length === 0) return;
  const refs = chunks.map((c) => ({ chunkId: c.chunkId, offset: Number(c.offset), size: c.size }));
  const source = await ChunkSource.create(
    ctx,
    refs.map((c) => c.chunkId),
    `${what} (version ${version.number})`,
    { site: opts.site ?? null, sub: opts.sub, ...(opts.fetch ? { fetch: opts.fetch } : {}) },
  );
  yield* fileBytes(source, refs, null, { signal, ...(opts.prefetch ? { prefetch: opts.prefetch } : {}) });
}
