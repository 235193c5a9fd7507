import { z } from "zod";
import { ZChunkId } from "./ids.ts";
import { ZNodeStatus, ZReceipt } from "./node-api.ts";
import { ZErrorBody } from "./errors.ts";

/**
 * The control plane's HTTP API for non-browser clients (CLI, SDK, sync agents), under
 * /api/v1. Authentication: `Authorization: Bearer <device token>` (from POST
 * /api/v1/auth/device-tokens) or the browser session cookie. Errors: `ZErrorBody`.
 * Sizes are JSON numbers (safe up to 2^53 bytes).
 *
 * A client may say which site it is in with the `x-cumulus-site` header; replica lists
 * are then ordered nearest first (same site, then others).
 */
export const API_PREFIX = "/api/v1";
export const HEADER_CLIENT_SITE = "x-cumulus-site";

const ZPathString = z.string().min(1).max(4096);
const ZSize = z.number().int().min(0).max(Number.MAX_SAFE_INTEGER);
const ZIsoDate = z.string();

// --- auth -------------------------------------------------------------------

/** POST /api/v1/auth/device-tokens */
export const ZCreateDeviceTokenRequest = z.object({
  email: z.string().min(3).max(320),
  password: z.string().min(1).max(1024),
  deviceName: z.string().min(1).max(100),
});
export const ZCreateDeviceTokenResponse = z.object({
  token: z.string(),
  tokenId: z.uuid(),
  user: z.object({ id: z.uuid(), email: z.string(), role: z.enum(["admin", "user"]) }),
});
/** DELETE /api/v1/auth/device-tokens/current — revokes the token used for the call. */

/** GET /api/v1/auth/whoami */
export const ZWhoAmI = z.object({ id: z.uuid(), email: z.string(), role: z.enum(["admin", "user"]), home: z.string() });

// --- namespace --------------------------------------------------------------

export const ZEntryType = z.enum(["folder", "file"]);

export const ZEntry = z.object({
  id: z.uuid(),
  name: z.string(),
  path: z.string(),
  type: ZEntryType,
  size: ZSize,
  modifiedAt: ZIsoDate,
  owner: z.string().nullable(),
  /** Current version number for files; null for folders. */
  version: z.number().int().positive().nullable(),
});
export type Entry = z.infer<typeof ZEntry>;

/** GET /api/v1/fs/list?path=/a */
export const ZListResponse = z.object({ path: z.string(), entries: z.array(ZEntry) });

/** POST /api/v1/fs/mkdir */
export const ZMkdirRequest = z.object({ path: ZPathString, parents: z.boolean().default(false) });
/** POST /api/v1/fs/move — rename and/or move; fails with ALREADY_EXISTS if `to` exists. */
export const ZMoveRequest = z.object({ from: ZPathString, to: ZPathString });
/** POST /api/v1/fs/delete — moves to the trash; a non-empty folder needs `recursive`. */
export const ZDeleteRequest = z.object({
  path: ZPathString,
  recursive: z.boolean().default(false),
  /**
   * Preconditions checked under the entry's lock (CONFLICT when they fail): the entry at
   * `path` is this one, and a file is still at this version. A sync agent deleting what it
   * last saw must not trash an edit that reached the server a moment earlier.
   */
  expectedId: z.uuid().optional(),
  expectedVersion: z.number().int().min(1).optional(),
  /**
   * For a recursive folder delete: refuse (CONFLICT) if anything inside the folder changed
   * after this change-feed sequence. A sync agent trashing a folder it saw as of its cursor
   * must not take along an edit another device made inside it since.
   */
  unchangedSince: z.number().int().min(0).optional(),
});
/** GET /api/v1/fs/trash */
export const ZTrashItem = z.object({
  id: z.uuid(),
  name: z.string(),
  originalPath: z.string(),
  type: ZEntryType,
  size: ZSize,
  trashedAt: ZIsoDate,
});
export const ZTrashResponse = z.object({ items: z.array(ZTrashItem) });
/** POST /api/v1/fs/trash/restore */
export const ZRestoreTrashRequest = z.object({ id: z.uuid() });

export const ZReplica = z.object({
  nodeId: z.uuid(),
  node: z.string(),
  site: z.string(),
  state: z.enum(["stored", "corrupt", "deleting"]),
});

export const ZPolicy = z.object({
  replicas: z.number().int().min(1).max(16),
  requiredSites: z.array(z.string()),
  allowedSites: z.array(z.string()),
  pinnedNodes: z.array(z.string()),
});
export type Policy = z.infer<typeof ZPolicy>;

/** GET /api/v1/fs/stat?path=/a[&version=N] */
export const ZStatResponse = z.object({
  entry: ZEntry,
  path: z.string(),
  size: ZSize,
  /** Number of versions the file has (0 for folders). */
  versions: z.number().int().min(0),
  version: z.number().int().positive().nullable(),
  policy: ZPolicy,
  chunks: z.array(
    z.object({
      id: ZChunkId,
      size: z.number().int().positive(),
      offset: ZSize,
      replicas: z.array(ZReplica),
      /**
       * Replicas that count now (stored, on a live node, confirmed at its current
       * registration) and how many the chunk needs: the strictest policy of every file
       * sharing it. Progress of a policy change or repair is live/target per chunk.
       */
      live: z.number().int().min(0).optional(),
      target: z.number().int().min(0).optional(),
    }),
  ),
});
export type StatResponse = z.infer<typeof ZStatResponse>;

/** GET /api/v1/fs/versions?path=/a */
export const ZVersion = z.object({
  number: z.number().int().positive(),
  size: ZSize,
  chunkCount: z.number().int().min(0),
  createdAt: ZIsoDate,
  createdBy: z.string().nullable(),
  current: z.boolean(),
});
export const ZVersionsResponse = z.object({ path: z.string(), versions: z.array(ZVersion) });
/** POST /api/v1/fs/versions/restore — makes version N the content of a new, current version. */
export const ZRestoreVersionRequest = z.object({ path: ZPathString, version: z.number().int().positive() });

// --- upload -----------------------------------------------------------------

export const ZManifestChunk = z.object({
  id: ZChunkId,
  size: z
    .number()
    .int()
    .positive()
    .max(4 * 1024 * 1024),
});

/** POST /api/v1/uploads */
export const ZBeginUploadRequest = z.object({
  path: ZPathString,
  size: ZSize,
  chunks: z.array(ZManifestChunk).max(1_000_000),
  /**
   * The version the client's content is based on: null to create a new file (CONFLICT if
   * one exists), or the current version number it read (CONFLICT if it changed meanwhile).
   */
  baseVersion: z.number().int().positive().nullable(),
  /** Create missing parent folders. */
  parents: z.boolean().default(false),
  deviceName: z.string().max(100).optional(),
});
export type BeginUploadRequest = z.infer<typeof ZBeginUploadRequest>;

export const ZPipelineNode = z.object({
  nodeId: z.uuid(),
  node: z.string(),
  site: z.string(),
  url: z.url(),
  /** host:port of the node's UDT listener, when it has one (WAN acceleration; Node clients only). */
  udt: z.string().max(255).optional(),
});

export const ZBeginUploadResponse = z.object({
  uploadId: z.uuid(),
  expiresAt: ZIsoDate,
  /** Chunks the cluster lacks; the others are already stored (deduplicated). */
  missing: z.array(
    z.object({
      id: ZChunkId,
      size: z.number().int().positive(),
      /** Replica pipeline: PUT to the first node, which forwards along the rest. */
      pipeline: z.array(ZPipelineNode).min(1),
      /** Write capability for this chunk's pipeline (shared by chunks in the same batch). */
      token: z.string(),
    }),
  ),
});
export type BeginUploadResponse = z.infer<typeof ZBeginUploadResponse>;

/** POST /api/v1/uploads/:id/commit */
export const ZCommitUploadRequest = z.object({
  /** For every uploaded chunk: the receipts the nodes returned. */
  receipts: z.record(ZChunkId, z.array(ZReceipt).min(1)),
});
export type CommitUploadRequest = z.infer<typeof ZCommitUploadRequest>;

export const ZCommitUploadResponse = z.object({ entry: ZEntry, version: z.number().int().positive() });

// --- download ---------------------------------------------------------------

/** GET /api/v1/downloads?path=/a[&version=N] */
export const ZDownloadPlan = z.object({
  path: z.string(),
  size: ZSize,
  version: z.number().int().positive(),
  chunks: z.array(
    z.object({
      id: ZChunkId,
      size: z.number().int().positive(),
      offset: ZSize,
      /** Live replicas, nearest first. */
      replicas: z.array(ZPipelineNode),
      /** Read capability covering this chunk on every listed replica. */
      token: z.string(),
    }),
  ),
});
export type DownloadPlan = z.infer<typeof ZDownloadPlan>;

// --- policies ---------------------------------------------------------------

/** GET /api/v1/policy?path=/a */
export const ZPolicyResponse = z.object({
  path: z.string(),
  /** Settings made on this entry itself (null fields inherit). */
  explicit: z
    .object({
      replicas: z.number().int().nullable(),
      requiredSites: z.array(z.string()),
      allowedSites: z.array(z.string()),
      pinnedNodes: z.array(z.string()),
    })
    .nullable(),
  effective: ZPolicy,
  /** Path the effective replica count comes from, or "default". */
  inheritedFrom: z.string(),
  /**
   * Set when the active storage nodes cannot place this policy now (too few eligible
   * nodes, a required site or pinned node without an active node): what that means and
   * what to do. Null when they can.
   */
  warning: z.string().nullable(),
});

/** PUT /api/v1/policy — omitted fields keep their value; `null` replicas clears (inherit). */
export const ZSetPolicyRequest = z.object({
  path: ZPathString,
  replicas: z.number().int().min(1).max(16).nullable().optional(),
  requiredSites: z.array(z.string().min(1).max(63)).max(16).optional(),
  allowedSites: z.array(z.string().min(1).max(63)).max(16).optional(),
  pinnedNodes: z.array(z.string().min(1).max(63)).max(16).optional(),
});

// --- cluster ----------------------------------------------------------------

export const ZRepairStatus = z.object({
  /** "stale" when no worker has reported for a while (no reconciler running). */
  state: z.enum(["idle", "repairing", "stale"]),
  /** Worker process that leads reconciliation (holds the leader lock). */
  leader: z.string().nullable(),
  updatedAt: ZIsoDate.nullable(),
  /** Copy and delete tasks (one per chunk and node) waiting in the queue, and running now. */
  queued: z.number().int().min(0),
  running: z.number().int().min(0),
  /** Repair throughput: bytes copied node to node per second over the last 10 seconds. */
  bytesPerSec: z.number().min(0),
  bytesLastMinute: z.number().min(0),
  copiesLastMinute: z.number().int().min(0),
  deletesLastMinute: z.number().int().min(0),
  /** Referenced chunks with no live copy at all (their nodes are down). */
  unavailable: z.number().int().min(0),
});
export type RepairStatus = z.infer<typeof ZRepairStatus>;

/** GET /api/v1/sysinfo */
export const ZSysinfo = z.object({
  sites: z.array(z.object({ name: z.string(), nodes: z.number().int() })),
  nodes: z.array(
    z.object({
      id: z.uuid(),
      name: z.string(),
      site: z.string(),
      status: ZNodeStatus,
      capacityBytes: ZSize,
      usedBytes: ZSize,
      /** What the node can still store (its disk's free space may be less than capacity - used). */
      availableBytes: ZSize,
      /** Too little room for new replicas: placement skips it until it has room again. */
      full: z.boolean(),
      chunks: z.number().int().min(0),
      lastHeartbeatAt: ZIsoDate,
    }),
  ),
  chunks: z.number().int().min(0),
  replicas: z.number().int().min(0),
  underReplicated: z.number().int().min(0),
  overReplicated: z.number().int().min(0),
  /**
   * Chunks with the right number of copies in the wrong places (sites, pins, or a node
   * that placement says should hold one): from the reconciler's last scan.
   */
  misplaced: z.number().int().min(0).default(0),
  /** The reconciler (repair, rebalancing, garbage collection): from its last scan. */
  repair: ZRepairStatus.default({
    state: "idle",
    leader: null,
    updatedAt: null,
    queued: 0,
    running: 0,
    bytesPerSec: 0,
    bytesLastMinute: 0,
    copiesLastMinute: 0,
    deletesLastMinute: 0,
    unavailable: 0,
  }),
});
export type Sysinfo = z.infer<typeof ZSysinfo>;

// --- change feed ------------------------------------------------------------

/** GET /api/v1/changes?cursor=N[&wait=seconds] — long-polls up to `wait` when empty. */
export const ZChange = z.object({
  seq: z.number().int().positive(),
  kind: z.enum(["create", "update", "move", "trash", "restore", "purge"]),
  entryId: z.uuid(),
  path: z.string().nullable(),
  type: ZEntryType,
  version: z.number().int().positive().nullable(),
  at: ZIsoDate,
  /**
   * Where the change put the entry and what it holds, so a sync agent can apply it to its
   * remote tree without a lookup: the parent's id (null for the root), the entry's name,
   * and for file versions the version's content hash (`FileVersion.contentHash`).
   */
  parentId: z.uuid().nullable().optional(),
  name: z.string().optional(),
  contentHash: z.string().nullable().optional(),
});
export const ZChangesResponse = z.object({ changes: z.array(ZChange), cursor: z.number().int().min(0) });

/**
 * GET /api/v1/fs/tree?path=/a — every live entry under a folder the user can read (the
 * folder itself first, parentId of each entry included), with the change-feed cursor the
 * snapshot is consistent with: following the feed from `cursor` brings it up to date
 * (changes already reflected in the snapshot may be seen again; applying them is a no-op).
 */
export const ZTreeEntry = z.object({
  id: z.uuid(),
  parentId: z.uuid().nullable(),
  name: z.string(),
  type: ZEntryType,
  /** Current version (files), null for folders. */
  version: z.number().int().positive().nullable(),
  /** Content hash of the current version (files): SHA-256 over "<chunkId>:<size>\n" per chunk. */
  contentHash: z.string().nullable(),
  size: ZSize,
});
export type TreeEntry = z.infer<typeof ZTreeEntry>;
export const ZTreeResponse = z.object({
  path: z.string(),
  cursor: z.number().int().min(0),
  entries: z.array(ZTreeEntry),
});
export type TreeResponse = z.infer<typeof ZTreeResponse>;

// --- storage nodes (admins) ---------------------------------------------------

/**
 * GET /api/v1/nodes/:name, and the answer of POST /api/v1/nodes/:name/drain and
 * /remove: where a node stands in leaving the cluster.
 */
export const ZNodeDrainStatus = z.object({
  id: z.uuid(),
  name: z.string(),
  site: z.string(),
  status: ZNodeStatus,
  /** Replica rows on the node (any state). */
  replicas: z.number().int().min(0),
  /**
   * Of the chunks it holds, how many would drop below their policy's replica count
   * without this node's copy (the node cannot leave before this is 0).
   */
  needed: z.number().int().min(0),
  /** Of those, how many have no other live copy at all. */
  soleCopies: z.number().int().min(0),
  /** Draining finished: no copy of a chunk any file references is left on the node. */
  drained: z.boolean(),
});
export type NodeDrainStatus = z.infer<typeof ZNodeDrainStatus>;

/** GET /api/v1/nodes */
export const ZNodeListResponse = z.object({ nodes: z.array(ZNodeDrainStatus) });

/** POST /api/v1/nodes/:name/remove — refused (CONFLICT) while the node still holds needed copies. */
export const ZRemoveNodeRequest = z.object({}).default({});

// --- batches (many small files in one request) --------------------------------

/** Most items in one batch request: bounds a request's work and its answer. */
export const MAX_BATCH_ITEMS = 500;

/** One item's outcome in a batch answer: its result, or the error it alone got. */
export const ZBatchItemResult = <T extends z.ZodType>(value: T) =>
  z.union([
    z.object({ ok: z.literal(true), value }),
    z.object({ ok: z.literal(false), error: ZErrorBody.shape.error }),
  ]);

/**
 * POST /api/v1/uploads/batch — beginUpload for each item (each item is a
 * BeginUploadRequest, validated on its own so one bad item fails only itself).
 */
export const ZBeginUploadBatchRequest = z.object({ uploads: z.array(z.unknown()).min(1).max(MAX_BATCH_ITEMS) });
export type BeginUploadBatchRequest = { uploads: BeginUploadRequest[] };
export const ZBeginUploadBatchResponse = z.object({ results: z.array(ZBatchItemResult(ZBeginUploadResponse)) });
export type BeginUploadBatchResponse = z.infer<typeof ZBeginUploadBatchResponse>;

/** POST /api/v1/uploads/batch/commit — commitUpload for each item, in order. */
export const ZCommitUploadBatchRequest = z.object({
  commits: z
    .array(z.object({ uploadId: z.string(), receipts: z.unknown() }))
    .min(1)
    .max(MAX_BATCH_ITEMS),
});
export type CommitUploadBatchRequest = { commits: ({ uploadId: string } & CommitUploadRequest)[] };
export const ZCommitUploadBatchResponse = z.object({ results: z.array(ZBatchItemResult(ZCommitUploadResponse)) });
export type CommitUploadBatchResponse = z.infer<typeof ZCommitUploadBatchResponse>;

/** POST /api/v1/downloads/batch — download plans of many files (current or given version). */
export const ZDownloadPlanBatchRequest = z.object({
  files: z
    .array(z.object({ path: z.string(), version: z.number().int().positive().optional() }))
    .min(1)
    .max(MAX_BATCH_ITEMS),
});
export type DownloadPlanBatchRequest = z.infer<typeof ZDownloadPlanBatchRequest>;
export const ZDownloadPlanBatchResponse = z.object({ results: z.array(ZBatchItemResult(ZDownloadPlan)) });
export type DownloadPlanBatchResponse = z.infer<typeof ZDownloadPlanBatchResponse>;
