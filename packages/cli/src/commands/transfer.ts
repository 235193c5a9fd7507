import type { Stats } from "node:fs";
import { mkdir, readdir, stat } from "node:fs/promises";
import path from "node:path";
import { AppError } from "@cumulus/protocol/errors";
import { normalizePath, parsePath } from "@cumulus/protocol/paths";
import type { CumulusClient } from "@cumulus/client/client";
import { downloadFile, type DownloadResult } from "@cumulus/client/node/download-file";
import { localError } from "@cumulus/client/node/local-errors";
import { uploadFile } from "@cumulus/client/node/upload-file";
import { runPool } from "@cumulus/client/pool";
import type { UploadResult } from "@cumulus/client/upload";
import { Interrupted, transportOf, type Ctx, type GlobalOpts } from "../context.ts";
import { humanDuration, humanSize } from "../format.ts";
import { TransferBar } from "../progress.ts";

export interface TransferOpts extends GlobalOpts {
  /** Chunks in flight per file. */
  concurrency?: number;
}

/** Files transferred at once in a folder put/get (each with its own chunk parallelism). */
const FILE_CONCURRENCY = 3;

function joinRemote(dir: string, name: string): string {
  return dir === "/" ? `/${name}` : `${dir}/${name}`;
}

async function localStat(p: string): Promise<Stats> {
  try {
    return await stat(p);
  } catch (err) {
    throw localError(err, p);
  }
}

/** Aborts the transfer on Ctrl-C; the command then exits 130. */
function interruptible(ctx: Ctx, message: string): { signal: AbortSignal; release: () => void } {
  const ac = new AbortController();
  const release = ctx.io.onInterrupt(() => ac.abort(new Interrupted(message)));
  return { signal: ac.signal, release };
}

// --- put ---------------------------------------------------------------------------

interface PutFile {
  local: string;
  remote: string;
  size: number;
  /** undefined: look it up before uploading. */
  baseVersion?: number | null;
}

export async function put(ctx: Ctx, args: string[], opts: TransferOpts): Promise<void> {
  if (args.length < 2)
    throw new AppError(
      "BAD_REQUEST",
      "put needs at least one local file or folder and a remote destination: cumulus put LOCAL... REMOTE",
    );
  const sources = args.slice(0, -1);
  const rawRemote = args.at(-1)!;
  const client = await ctx.client(opts);
  const remote = normalizePath(await ctx.remotePath(client, rawRemote));
  const wantsFolder = rawRemote.endsWith("/") || sources.length > 1;

  // Everything is checked before anything changes: local sources exist, every remote
  // name is valid, the destination is of the right type.
  const locals = await Promise.all(sources.map(async (s) => ({ path: s, st: await localStat(s) })));
  const target = await client.statIfExists(remote);
  let intoFolder = wantsFolder;
  if (target?.entry.type === "folder") intoFolder = true;
  else if (target?.entry.type === "file") {
    if (wantsFolder) throw new AppError("ALREADY_EXISTS", `${remote} is a file, not a folder`);
    if (locals[0]!.st.isDirectory())
      throw new AppError("ALREADY_EXISTS", `${remote} is a file: cannot put the folder ${locals[0]!.path} there`);
  }

  const parent = remote.slice(0, remote.lastIndexOf("/")) || "/";
  if (!intoFolder && !target && parent !== "/") {
    // The server would only say the path does not exist; name the missing folder.
    const p = await client.statIfExists(parent);
    if (!p)
      throw new AppError(
        "NOT_FOUND",
        `folder ${parent} does not exist: create it first (cumulus mkdir -p ${parent}) or put into an existing folder`,
      );
    if (p.entry.type !== "folder") throw new AppError("ALREADY_EXISTS", `${parent} is a file, not a folder`);
  }

  const folders: string[] = [];
  const files: PutFile[] = [];
  if (intoFolder && !target) folders.push(remote);
  for (const { path: local, st } of locals) {
    const name = path.basename(path.resolve(local));
    const dest = intoFolder ? joinRemote(remote, name) : remote;
    if (st.isDirectory()) {
      folders.push(dest);
      await walkLocal(ctx, local, dest, folders, files);
    } else if (st.isFile()) {
      files.push({
        local,
        remote: dest,
        size: st.size,
        ...(!intoFolder && target?.entry.type === "file" ? { baseVersion: target.entry.version } : {}),
      });
    } else {
      throw new AppError("BAD_REQUEST", `${local} is not a regular file or folder`);
    }
  }
  for (const p of [...folders, ...files.map((f) => f.remote)]) parsePath(p);

  for (const f of folders) await client.mkdir(f, { parents: true });
  await lookupBaseVersions(client, files);

  const bytesTotal = files.reduce((a, f) => a + f.size, 0);
  const bar = new TransferBar(ctx, opts, "put", bytesTotal);
  const { signal, release } = interruptible(
    ctx,
    "interrupted: run the same put again to resume; chunks already sent are not sent again",
  );
  const results: { file: PutFile; r: UploadResult }[] = [];
  const t0 = Date.now();
  try {
    await runPool(files, files.length > 1 ? FILE_CONCURRENCY : 1, async (f) => {
      try {
        const r = await uploadFile(client, {
          localPath: f.local,
          remotePath: f.remote,
          baseVersion: f.baseVersion ?? null,
          skipUnchanged: true,
          journalDir: path.join(ctx.configDir, "uploads"),
          deviceName: ctx.deviceName(),
          transport: transportOf(opts, ctx.io.env),
          ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
          onProgress: (p) => bar.update(f.remote, path.basename(f.local), p),
          signal,
        });
        results.push({ file: f, r });
      } catch (err) {
        if (err instanceof AppError && err.code === "CONFLICT") {
          // The server kept the other writer's content; make plain that ours is not lost.
          throw new AppError(
            "CONFLICT",
            `${err.message} — ${f.local} was not uploaded and is unchanged on your disk`,
            err.details,
          );
        }
        throw err;
      }
    });
  } finally {
    release();
    bar.stop();
  }

  const sum = (
    k: "bytesTotal" | "bytesUploaded" | "chunksTotal" | "chunksUploaded" | "chunksSkipped" | "bytesSkipped",
  ) => results.reduce((a, x) => a + x.r[k], 0);
  if (opts.json) {
    return ctx.json({
      bytesTotal: sum("bytesTotal"),
      bytesUploaded: sum("bytesUploaded"),
      chunksTotal: sum("chunksTotal"),
      chunksUploaded: sum("chunksUploaded"),
      chunksSkipped: sum("chunksSkipped"),
      bytesSkipped: sum("bytesSkipped"),
      folders: folders.length,
      files: results.map(({ file, r }) => ({
        local: file.local,
        path: r.entry.path,
        version: r.version,
        unchanged: r.unchanged,
        bytesTotal: r.bytesTotal,
        bytesUploaded: r.bytesUploaded,
        chunksTotal: r.chunksTotal,
        chunksUploaded: r.chunksUploaded,
      })),
    });
  }
  const ms = Date.now() - t0;
  const one = results.length === 1 ? results[0]!.r : null;
  const what = one
    ? `${results[0]!.file.local} to ${one.entry.path} (${one.unchanged ? `unchanged, still version ${one.version}` : `version ${one.version}`})`
    : `${results.length} files${folders.length ? ` and ${folders.length} folders` : ""} to ${remote}${results.some((x) => x.r.unchanged) ? ` (${results.filter((x) => x.r.unchanged).length} unchanged)` : ""}`;
  ctx.out(
    `uploaded ${what}: ${humanSize(sum("bytesTotal"))} in ${sum("chunksTotal")} chunks, ` +
      `${sum("chunksUploaded")} sent (${humanSize(sum("bytesUploaded"))}), ${sum("chunksSkipped")} already stored; ` +
      `${humanDuration(ms)}${ms > 0 && sum("bytesUploaded") > 0 ? `, ${humanSize((sum("bytesUploaded") * 1000) / ms)}/s` : ""}`,
  );
}

async function walkLocal(ctx: Ctx, dir: string, remoteDir: string, folders: string[], files: PutFile[]): Promise<void> {
  let names;
  try {
    names = await readdir(dir, { withFileTypes: true });
  } catch (err) {
    throw localError(err, dir);
  }
  names.sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const d of names) {
    const local = path.join(dir, d.name);
    const remote = joinRemote(remoteDir, d.name);
    // Symlinks are followed to files only: following them to folders could loop.
    const st = d.isSymbolicLink() ? await stat(local).catch(() => null) : null;
    if (d.isDirectory()) {
      folders.push(remote);
      await walkLocal(ctx, local, remote, folders, files);
    } else if (d.isFile() || st?.isFile()) {
      files.push({ local, remote, size: st?.size ?? (await localStat(local)).size });
    } else {
      ctx.io.stderr.write(
        `cumulus: warning: skipped ${local} (${d.isSymbolicLink() ? "symbolic link to a folder or to nothing" : "not a regular file"})\n`,
      );
    }
  }
}

/** The current version of every destination that exists: one listing per folder, or one stat. */
async function lookupBaseVersions(client: CumulusClient, files: PutFile[]): Promise<void> {
  const todo = files.filter((f) => f.baseVersion === undefined);
  if (todo.length === 1) {
    const st = await client.statIfExists(todo[0]!.remote);
    if (st?.entry.type === "folder") throw new AppError("ALREADY_EXISTS", `${todo[0]!.remote} is a folder`);
    todo[0]!.baseVersion = st?.entry.version ?? null;
    return;
  }
  const byDir = new Map<string, PutFile[]>();
  for (const f of todo) {
    const dir = f.remote.slice(0, f.remote.lastIndexOf("/")) || "/";
    byDir.set(dir, [...(byDir.get(dir) ?? []), f]);
  }
  for (const [dir, list] of byDir) {
    const entries = new Map((await client.list(dir)).entries.map((e) => [e.name, e]));
    for (const f of list) {
      const e = entries.get(f.remote.slice(f.remote.lastIndexOf("/") + 1).normalize("NFC"));
      if (e?.type === "folder") throw new AppError("ALREADY_EXISTS", `${f.remote} is a folder`);
      f.baseVersion = e?.version ?? null;
    }
  }
}

// --- get ---------------------------------------------------------------------------

interface GetFile {
  remote: string;
  local: string;
  size: number;
}

/** A name from the server becomes a local path component: refuse anything that could escape. */
function safeLocalName(name: string, remotePath: string): string {
  if (
    name === "" ||
    name === "." ||
    name === ".." ||
    name.includes("/") ||
    name.includes("\\") ||
    name.includes("\0")
  ) {
    throw new AppError(
      "INVALID_NAME",
      `refusing to write ${JSON.stringify(remotePath)}: its name is not a safe local file name`,
    );
  }
  return name;
}

export async function get(
  ctx: Ctx,
  rawRemote: string,
  rawLocal: string,
  opts: TransferOpts & { version?: number },
): Promise<void> {
  const client = await ctx.client(opts);
  const remote = normalizePath(await ctx.remotePath(client, rawRemote));
  const st = await client.stat(remote);
  const localSt = await stat(rawLocal).catch(() => null);
  const wantsDir = rawLocal.endsWith("/") || rawLocal.endsWith(path.sep);

  const files: GetFile[] = [];
  const dirs: string[] = [];
  if (st.entry.type === "file") {
    const dest =
      localSt?.isDirectory() || wantsDir ? path.join(rawLocal, safeLocalName(st.entry.name, remote)) : rawLocal;
    if (wantsDir && !localSt) dirs.push(rawLocal);
    files.push({ remote, local: dest, size: st.size });
  } else {
    if (opts.version !== undefined) throw new AppError("BAD_REQUEST", "--version applies to files, not folders");
    if (localSt && !localSt.isDirectory())
      throw new AppError("ALREADY_EXISTS", `${rawLocal} exists and is not a folder`);
    // Like cp -r: into an existing folder under the remote folder's name, else as that folder.
    const dest =
      localSt?.isDirectory() && st.entry.name ? path.join(rawLocal, safeLocalName(st.entry.name, remote)) : rawLocal;
    dirs.push(dest);
    await walkRemote(client, remote, dest, dirs, files);
  }
  for (const f of files) {
    const parent = path.dirname(path.resolve(f.local));
    if (!dirs.some((d) => path.resolve(d) === parent)) {
      const ps = await stat(parent).catch(() => null);
      if (!ps?.isDirectory()) throw new AppError("NOT_FOUND", `local folder ${parent} does not exist`);
    }
  }
  for (const d of dirs) {
    try {
      await mkdir(d, { recursive: true });
    } catch (err) {
      throw localError(err, d);
    }
  }

  const bytesTotal = files.reduce((a, f) => a + f.size, 0);
  const bar = new TransferBar(ctx, opts, "get", bytesTotal);
  const { signal, release } = interruptible(ctx, "interrupted: nothing was written (the partial download was removed)");
  const results: { file: GetFile; r: DownloadResult }[] = [];
  const t0 = Date.now();
  try {
    await runPool(files, files.length > 1 ? FILE_CONCURRENCY : 1, async (f) => {
      const r = await downloadFile(client, {
        remotePath: f.remote,
        localPath: f.local,
        ...(opts.version !== undefined ? { version: opts.version } : {}),
        transport: transportOf(opts, ctx.io.env),
        ...(opts.concurrency ? { concurrency: opts.concurrency } : {}),
        onProgress: (p) => bar.update(f.remote, path.basename(f.local), p),
        signal,
      });
      results.push({ file: f, r });
    });
  } finally {
    release();
    bar.stop();
  }

  const sum = (k: "bytesTotal" | "bytesDownloaded" | "chunksTotal" | "chunksDownloaded") =>
    results.reduce((a, x) => a + x.r[k], 0);
  if (opts.json) {
    return ctx.json({
      bytesTotal: sum("bytesTotal"),
      bytesDownloaded: sum("bytesDownloaded"),
      chunksTotal: sum("chunksTotal"),
      chunksDownloaded: sum("chunksDownloaded"),
      folders: dirs.length,
      files: results.map(({ file, r }) => ({
        path: r.path,
        local: file.local,
        version: r.version,
        bytesTotal: r.bytesTotal,
        chunksTotal: r.chunksTotal,
      })),
    });
  }
  const ms = Date.now() - t0;
  const what =
    results.length === 1 && st.entry.type === "file"
      ? `${remote} (version ${results[0]!.r.version}) to ${results[0]!.file.local}`
      : `${results.length} files from ${remote} to ${dirs[0] ?? rawLocal}`;
  ctx.out(
    `downloaded ${what}: ${humanSize(sum("bytesTotal"))} in ${humanDuration(ms)}${ms > 0 && sum("bytesTotal") > 0 ? `, ${humanSize((sum("bytesTotal") * 1000) / ms)}/s` : ""}`,
  );
}

async function walkRemote(
  client: CumulusClient,
  remoteDir: string,
  localDir: string,
  dirs: string[],
  files: GetFile[],
): Promise<void> {
  const { entries } = await client.list(remoteDir);
  for (const e of entries) {
    const local = path.join(localDir, safeLocalName(e.name, e.path));
    const remote = joinRemote(remoteDir, e.name);
    if (e.type === "folder") {
      dirs.push(local);
      await walkRemote(client, remote, local, dirs, files);
    } else {
      files.push({ remote, local, size: e.size });
    }
  }
}
