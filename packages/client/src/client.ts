import { z } from "zod";
import { AppError } from "@cumulus/protocol/errors";
import {
  API_PREFIX,
  HEADER_CLIENT_SITE,
  ZBeginUploadResponse,
  ZChangesResponse,
  ZTreeResponse,
  ZCommitUploadResponse,
  ZCreateDeviceTokenResponse,
  ZDownloadPlan,
  ZEntry,
  ZListResponse,
  ZNodeDrainStatus,
  ZNodeListResponse,
  ZTrashItem,
  ZPolicyResponse,
  ZStatResponse,
  ZSysinfo,
  ZTrashResponse,
  ZVersionsResponse,
  ZWhoAmI,
  ZBeginUploadBatchResponse,
  ZDownloadPlanBatchResponse,
  type DownloadPlanBatchRequest,
  type DownloadPlanBatchResponse,
  ZCommitUploadBatchResponse,
  type BeginUploadBatchRequest,
  type BeginUploadBatchResponse,
  type CommitUploadBatchRequest,
  type CommitUploadBatchResponse,
  type BeginUploadRequest,
  type CommitUploadRequest,
} from "@cumulus/protocol/api";
import { describeCause, errorFromResponse, isAbort, parseJson, withTimeout, type FetchFn } from "./http.ts";

export type WhoAmI = z.infer<typeof ZWhoAmI>;
export type DeviceToken = z.infer<typeof ZCreateDeviceTokenResponse>;
export type ListResponse = z.infer<typeof ZListResponse>;
export type StatResponse = z.infer<typeof ZStatResponse>;
export type VersionsResponse = z.infer<typeof ZVersionsResponse>;
export type TrashResponse = z.infer<typeof ZTrashResponse>;
export type PolicyResponse = z.infer<typeof ZPolicyResponse>;
export type Sysinfo = z.infer<typeof ZSysinfo>;
export type ChangesResponse = z.infer<typeof ZChangesResponse>;
export type TreeResponse = z.infer<typeof ZTreeResponse>;
export type BeginUploadResponse = z.infer<typeof ZBeginUploadResponse>;
export type CommitUploadResponse = z.infer<typeof ZCommitUploadResponse>;
export type DownloadPlan = z.infer<typeof ZDownloadPlan>;
export type Entry = z.infer<typeof ZEntry>;
export type NodeDrainStatus = z.infer<typeof ZNodeDrainStatus>;

export interface SetPolicyInput {
  path: string;
  /** null clears the explicit value (inherit). */
  replicas?: number | null;
  requiredSites?: string[];
  allowedSites?: string[];
  pinnedNodes?: string[];
}

/** DELETE /auth/device-tokens/current */
const ZRevokeResponse = z.object({ revoked: z.boolean() });
export type TrashItem = z.infer<typeof ZTrashItem>;

export interface CumulusClientOptions {
  /** Base URL of the control plane, e.g. https://cumulus.example.com */
  server: string;
  /** Device token (from `login`) sent as `Authorization: Bearer`. */
  token?: string | null;
  /** The client's site: replica lists come back nearest first. */
  site?: string | null;
  fetch?: FetchFn;
  /** Per-request timeout for control-plane calls (default 60 s). */
  timeoutMs?: number;
}

export interface RequestOptions {
  signal?: AbortSignal;
}

type Query = Record<string, string | number | undefined | null>;

/**
 * The control plane's /api/v1 contract (packages/protocol/src/api.ts), one method per
 * endpoint. Every response is validated with its protocol schema and every failure is an
 * `AppError`, so callers (CLI, web UI, sync agents) handle one error type.
 */
export class CumulusClient {
  readonly server: string;
  token: string | null;
  site: string | null;
  readonly fetch: FetchFn;
  private readonly timeoutMs: number;

  constructor(opts: CumulusClientOptions) {
    let url: URL;
    try {
      url = new URL(opts.server);
    } catch {
      throw new AppError(
        "BAD_REQUEST",
        `invalid server URL ${JSON.stringify(opts.server)}: expected e.g. https://cumulus.example.com`,
      );
    }
    if (url.protocol !== "http:" && url.protocol !== "https:") {
      throw new AppError(
        "BAD_REQUEST",
        `invalid server URL ${JSON.stringify(opts.server)}: only http and https are supported`,
      );
    }
    this.server = url.toString().replace(/\/+$/, "");
    this.token = opts.token ?? null;
    this.site = opts.site ?? null;
    // Bound to globalThis: browsers throw "Illegal invocation" for a detached fetch.
    this.fetch = opts.fetch ?? ((input, init) => globalThis.fetch(input, init));
    this.timeoutMs = opts.timeoutMs ?? 60_000;
  }

  // --- auth -----------------------------------------------------------------

  /** Exchanges a password for a device token and uses it for later calls. */
  async login(
    input: { email: string; password: string; deviceName: string },
    o?: RequestOptions,
  ): Promise<DeviceToken> {
    const res = await this.call("POST", "/auth/device-tokens", { body: input, auth: false, ...o });
    const out = await parseJson(res, ZCreateDeviceTokenResponse, "login");
    this.token = out.token;
    return out;
  }

  /** Revokes the token this client uses; `revoked` is false if it already was. */
  async logout(o?: RequestOptions): Promise<{ revoked: boolean }> {
    const out = await parseJson(await this.call("DELETE", "/auth/device-tokens/current", o), ZRevokeResponse, "logout");
    this.token = null;
    return out;
  }

  async whoami(o?: RequestOptions): Promise<WhoAmI> {
    return parseJson(await this.call("GET", "/auth/whoami", o), ZWhoAmI, "whoami");
  }

  // --- namespace --------------------------------------------------------------

  async list(path: string, o?: RequestOptions): Promise<ListResponse> {
    return parseJson(await this.call("GET", "/fs/list", { query: { path }, ...o }), ZListResponse, `list ${path}`);
  }

  async stat(path: string, opts: { version?: number } & RequestOptions = {}): Promise<StatResponse> {
    const res = await this.call("GET", "/fs/stat", { query: { path, version: opts.version }, signal: opts.signal });
    return parseJson(res, ZStatResponse, `stat ${path}`);
  }

  /** `stat` that answers null instead of throwing NOT_FOUND. */
  async statIfExists(path: string, o?: RequestOptions): Promise<StatResponse | null> {
    try {
      return await this.stat(path, o);
    } catch (err) {
      if (err instanceof AppError && err.code === "NOT_FOUND") return null;
      throw err;
    }
  }

  /** Creates a folder; with `parents`, also missing parents, and an existing folder is fine. */
  async mkdir(path: string, opts: { parents?: boolean } & RequestOptions = {}): Promise<Entry> {
    const res = await this.call("POST", "/fs/mkdir", {
      body: { path, parents: opts.parents ?? false },
      signal: opts.signal,
    });
    return parseJson(res, ZEntry, `mkdir ${path}`);
  }

  /** Renames and/or moves; ALREADY_EXISTS if `to` exists. */
  async move(from: string, to: string, o?: RequestOptions): Promise<Entry> {
    return parseJson(await this.call("POST", "/fs/move", { body: { from, to }, ...o }), ZEntry, `move ${from}`);
  }

  /**
   * Moves an entry to the trash; a non-empty folder needs `recursive`. With `expectedId` /
   * `expectedVersion` the server refuses (CONFLICT) if the entry changed since it was seen.
   */
  async delete(
    path: string,
    opts: {
      recursive?: boolean;
      expectedId?: string;
      expectedVersion?: number;
      unchangedSince?: number;
    } & RequestOptions = {},
  ): Promise<TrashItem> {
    const res = await this.call("POST", "/fs/delete", {
      body: {
        path,
        recursive: opts.recursive ?? false,
        ...(opts.expectedId !== undefined ? { expectedId: opts.expectedId } : {}),
        ...(opts.expectedVersion !== undefined ? { expectedVersion: opts.expectedVersion } : {}),
        ...(opts.unchangedSince !== undefined ? { unchangedSince: opts.unchangedSince } : {}),
      },
      signal: opts.signal,
    });
    return parseJson(res, ZTrashItem, `delete ${path}`);
  }

  async trash(o?: RequestOptions): Promise<TrashResponse> {
    return parseJson(await this.call("GET", "/fs/trash", o), ZTrashResponse, "trash");
  }

  async restoreTrash(id: string, o?: RequestOptions): Promise<Entry> {
    return parseJson(
      await this.call("POST", "/fs/trash/restore", { body: { id }, ...o }),
      ZEntry,
      "restore from trash",
    );
  }

  async versions(path: string, o?: RequestOptions): Promise<VersionsResponse> {
    return parseJson(
      await this.call("GET", "/fs/versions", { query: { path }, ...o }),
      ZVersionsResponse,
      `versions ${path}`,
    );
  }

  /** Makes version N the content of a new, current version. */
  async restoreVersion(path: string, version: number, o?: RequestOptions): Promise<CommitUploadResponse> {
    const res = await this.call("POST", "/fs/versions/restore", { body: { path, version }, ...o });
    return parseJson(res, ZCommitUploadResponse, `restore ${path}`);
  }

  // --- policies & cluster -------------------------------------------------------

  async getPolicy(path: string, o?: RequestOptions): Promise<PolicyResponse> {
    return parseJson(await this.call("GET", "/policy", { query: { path }, ...o }), ZPolicyResponse, `policy ${path}`);
  }

  async setPolicy(input: SetPolicyInput, o?: RequestOptions): Promise<PolicyResponse> {
    return parseJson(
      await this.call("PUT", "/policy", { body: input, ...o }),
      ZPolicyResponse,
      `set policy ${input.path}`,
    );
  }

  async sysinfo(o?: RequestOptions): Promise<Sysinfo> {
    return parseJson(await this.call("GET", "/sysinfo", o), ZSysinfo, "sysinfo");
  }

  // --- storage nodes (admins) -----------------------------------------------------

  /** Every storage node with its drain progress. */
  async listNodes(o?: RequestOptions): Promise<{ nodes: NodeDrainStatus[] }> {
    return parseJson(await this.call("GET", "/nodes", o), ZNodeListResponse, "nodes");
  }

  /** One node's drain progress: replicas left, and how many chunks still need its copy. */
  async nodeStatus(name: string, o?: RequestOptions): Promise<NodeDrainStatus> {
    return parseJson(await this.call("GET", `/nodes/${encodeURIComponent(name)}`, o), ZNodeDrainStatus, `node ${name}`);
  }

  /** Starts moving every chunk off the node; idempotent. */
  async drainNode(name: string, o?: RequestOptions): Promise<NodeDrainStatus> {
    const res = await this.call("POST", `/nodes/${encodeURIComponent(name)}/drain`, { body: {}, ...o });
    return parseJson(res, ZNodeDrainStatus, `drain node ${name}`);
  }

  /** Decommissions a node nothing needs any more; CONFLICT while it holds needed copies. */
  async removeNode(name: string, o?: RequestOptions): Promise<NodeDrainStatus> {
    const res = await this.call("POST", `/nodes/${encodeURIComponent(name)}/remove`, { body: {}, ...o });
    return parseJson(res, ZNodeDrainStatus, `remove node ${name}`);
  }

  /** Change feed; with `wait` the server long-polls that many seconds when there is nothing new. */
  async changes(cursor: number, opts: { wait?: number } & RequestOptions = {}): Promise<ChangesResponse> {
    const res = await this.call("GET", "/changes", {
      query: { cursor, wait: opts.wait },
      signal: opts.signal,
      timeoutMs: this.timeoutMs + (opts.wait ?? 0) * 1000,
    });
    return parseJson(res, ZChangesResponse, "changes");
  }

  /** Every live entry under a folder, with the change-feed cursor the snapshot is consistent with. */
  async tree(path: string, o?: RequestOptions): Promise<TreeResponse> {
    const res = await this.call("GET", "/fs/tree", {
      query: { path },
      signal: o?.signal,
      timeoutMs: this.timeoutMs * 4,
    });
    return parseJson(res, ZTreeResponse, `tree ${path}`);
  }

  // --- data path ----------------------------------------------------------------

  async beginUpload(input: BeginUploadRequest, o?: RequestOptions): Promise<BeginUploadResponse> {
    return parseJson(
      await this.call("POST", "/uploads", { body: input, ...o }),
      ZBeginUploadResponse,
      `upload ${input.path}`,
    );
  }

  async commitUpload(uploadId: string, input: CommitUploadRequest, o?: RequestOptions): Promise<CommitUploadResponse> {
    const res = await this.call("POST", `/uploads/${encodeURIComponent(uploadId)}/commit`, { body: input, ...o });
    return parseJson(res, ZCommitUploadResponse, "commit upload");
  }

  /** beginUpload of many files in one request; one result (or error) per file, in order. */
  async beginUploadBatch(input: BeginUploadBatchRequest, o?: RequestOptions): Promise<BeginUploadBatchResponse> {
    const res = await this.call("POST", "/uploads/batch", { body: input, ...o });
    return parseJson(res, ZBeginUploadBatchResponse, `upload ${input.uploads.length} files`);
  }

  /** commitUpload of many uploads in one request; one result (or error) per upload, in order. */
  async commitUploadBatch(input: CommitUploadBatchRequest, o?: RequestOptions): Promise<CommitUploadBatchResponse> {
    const res = await this.call("POST", "/uploads/batch/commit", { body: input, ...o });
    return parseJson(res, ZCommitUploadBatchResponse, `commit ${input.commits.length} uploads`);
  }

  /** downloadPlan of many files in one request; one plan (or error) per file, in order. */
  async downloadPlanBatch(input: DownloadPlanBatchRequest, o?: RequestOptions): Promise<DownloadPlanBatchResponse> {
    const res = await this.call("POST", "/downloads/batch", { body: input, ...o });
    return parseJson(res, ZDownloadPlanBatchResponse, `download ${input.files.length} files`);
  }

  async downloadPlan(path: string, opts: { version?: number } & RequestOptions = {}): Promise<DownloadPlan> {
    const res = await this.call("GET", "/downloads", { query: { path, version: opts.version }, signal: opts.signal });
    return parseJson(res, ZDownloadPlan, `download ${path}`);
  }

  // --- plumbing -------------------------------------------------------------------

  /** Sends one API request; resolves only for 2xx, otherwise throws the server's AppError. */
  async call(
    method: string,
    route: string,
    opts: { query?: Query; body?: unknown; auth?: boolean; signal?: AbortSignal | undefined; timeoutMs?: number } = {},
  ): Promise<Response> {
    const url = new URL(`${this.server}${API_PREFIX}${route}`);
    for (const [k, v] of Object.entries(opts.query ?? {})) {
      if (v !== undefined && v !== null) url.searchParams.set(k, String(v));
    }
    const headers: Record<string, string> = { accept: "application/json" };
    if (opts.auth !== false && this.token) headers.authorization = `Bearer ${this.token}`;
    if (this.site) headers[HEADER_CLIENT_SITE] = this.site;
    if (opts.body !== undefined) headers["content-type"] = "application/json";
    const what = `${method} ${API_PREFIX}${route}`;
    let res: Response;
    try {
      res = await this.fetch(url, {
        method,
        headers,
        ...(opts.body !== undefined ? { body: JSON.stringify(opts.body) } : {}),
        signal: withTimeout(opts.signal, opts.timeoutMs ?? this.timeoutMs),
        // The device token is the only credential; cookies of a browser session must not
        // turn a token-less SDK call into an authenticated one by accident.
        credentials: "omit",
      });
    } catch (err) {
      if (opts.signal?.aborted)
        throw opts.signal.reason instanceof Error ? opts.signal.reason : new AppError("UNAVAILABLE", "request aborted");
      if (isAbort(err) || (err instanceof Error && err.name === "TimeoutError")) {
        throw new AppError("UNAVAILABLE", `the Cumulus server at ${this.server} did not answer ${what} in time`);
      }
      throw new AppError("UNAVAILABLE", `cannot reach the Cumulus server at ${this.server}: ${describeCause(err)}`);
    }
    if (!res.ok) throw await errorFromResponse(res, what);
    return res;
  }
}
