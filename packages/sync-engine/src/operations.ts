import type { NodeType } from "./model.ts";

/**
 * What the planner asks an executor to do. Paths are relative to the sync root ("/a/b") on
 * the side the operation acts on, and assume every earlier operation of the same plan
 * succeeded: the executor runs a plan IN ORDER and, as soon as one operation fails (a
 * precondition no longer holds, the server answers CONFLICT / ALREADY_EXISTS / NOT_FOUND),
 * stops, refreshes its trees and plans again. After each success it records the outcome in
 * the synced tree with `applyOutcome` (./synced.ts).
 *
 * Preconditions the executor must check (each op carries what it needs):
 * - every op: the item at `path` / `from` is the one named by id (remoteId / localId);
 * - creating ops (mkdir*, upload with remoteId null, download with localId null, move* `to`):
 *   nothing exists at the target name (case-insensitively on such file systems), the parent does;
 * - upload: the local file still has `expectedHash`; the server checks `baseVersion`;
 * - download: the remote file is still at `version`; a file being replaced (localId set)
 *   still has `expectedLocalHash` right before the rename over it;
 * - deleteLocal: a file still has `expectedHash`; a folder is empty (rmdir, never recursive);
 * - deleteRemote: a file is still at `expectedVersion`; a folder is empty unless `recursive`.
 */
export type Operation =
  | UploadOp
  | DownloadOp
  | MkdirRemoteOp
  | MkdirLocalOp
  | MoveRemoteOp
  | MoveLocalOp
  | DeleteRemoteOp
  | DeleteLocalOp
  | LinkOp
  | UnlinkOp;

interface OpBase {
  /** Why, for logs and tests ("remote edit", "conflict copy", …). */
  readonly reason: string;
}

/** Upload local content: a new file (remoteId null, baseVersion null) or a new version. */
export interface UploadOp extends OpBase {
  readonly kind: "upload";
  readonly path: string;
  readonly localId: string;
  readonly remoteId: string | null;
  readonly baseVersion: number | null;
  readonly expectedHash: string;
}

/** Download a remote file: to a free name (localId null) or replacing an unchanged local file. */
export interface DownloadOp extends OpBase {
  readonly kind: "download";
  readonly path: string;
  readonly remoteId: string;
  readonly version: number;
  readonly contentHash: string | undefined;
  readonly localId: string | null;
  readonly expectedLocalHash: string | null;
}

export interface MkdirRemoteOp extends OpBase {
  readonly kind: "mkdirRemote";
  readonly path: string;
  readonly localId: string;
}

export interface MkdirLocalOp extends OpBase {
  readonly kind: "mkdirLocal";
  readonly path: string;
  readonly remoteId: string;
}

/** Rename and/or move on the server (one operation for a whole folder). */
export interface MoveRemoteOp extends OpBase {
  readonly kind: "moveRemote";
  readonly remoteId: string;
  /** The linked local item, if any (for recording the result). */
  readonly localId: string | null;
  readonly from: string;
  readonly to: string;
}

export interface MoveLocalOp extends OpBase {
  readonly kind: "moveLocal";
  readonly localId: string;
  readonly remoteId: string | null;
  readonly from: string;
  readonly to: string;
}

/** Move to the server's trash. */
export interface DeleteRemoteOp extends OpBase {
  readonly kind: "deleteRemote";
  readonly path: string;
  readonly remoteId: string;
  readonly type: NodeType;
  readonly expectedVersion: number | null;
  readonly recursive: boolean;
  /**
   * For a recursive folder delete: the change-feed sequence the folder's contents were seen
   * at; the server refuses if anything inside changed since (not set by the planner).
   */
  readonly unchangedSince?: number;
}

export interface DeleteLocalOp extends OpBase {
  readonly kind: "deleteLocal";
  readonly path: string;
  readonly localId: string;
  readonly type: NodeType;
  readonly expectedHash: string | null;
}

/** Nothing to move: both sides already agree, record it (identical creates, equal edits). */
export interface LinkOp extends OpBase {
  readonly kind: "link";
  readonly remoteId: string;
  readonly localId: string;
  /** Files: the content both sides must still hold. */
  readonly expectedHash: string | null;
}

/** Forget a synced record whose item is gone (or out of reach) on both sides. */
export interface UnlinkOp extends OpBase {
  readonly kind: "unlink";
  readonly remoteId: string;
}

/** What an executor learned by running an operation. */
export interface Outcome {
  /** Id of the remote entry created (mkdirRemote, new upload). */
  readonly remoteId?: string;
  /** Id of the local item created or replaced (mkdirLocal, download: a rename over a file gives a new inode). */
  readonly localId?: string;
  /** Version the server assigned (upload). */
  readonly version?: number;
  /** Manifest digest of what was downloaded, when the remote tree did not know it. */
  readonly contentHash?: string;
}

export type Side = "remote" | "local";

/** Which side an operation changes (link/unlink change only the synced tree). */
export function sideOf(op: Operation): Side | null {
  switch (op.kind) {
    case "upload":
    case "mkdirRemote":
    case "moveRemote":
    case "deleteRemote":
      return "remote";
    case "download":
    case "mkdirLocal":
    case "moveLocal":
    case "deleteLocal":
      return "local";
    default:
      return null;
  }
}

export function describe(op: Operation): string {
  switch (op.kind) {
    case "upload":
      return `upload ${op.path}${op.baseVersion === null ? " (new)" : ` (base v${op.baseVersion})`} — ${op.reason}`;
    case "download":
      return `download ${op.path} v${op.version}${op.localId ? " (replace)" : ""} — ${op.reason}`;
    case "mkdirRemote":
    case "mkdirLocal":
      return `${op.kind} ${op.path} — ${op.reason}`;
    case "moveRemote":
    case "moveLocal":
      return `${op.kind} ${op.from} → ${op.to} — ${op.reason}`;
    case "deleteRemote":
    case "deleteLocal":
      return `${op.kind} ${op.path} — ${op.reason}`;
    case "link":
      return `link remote ${op.remoteId} ↔ local ${op.localId} — ${op.reason}`;
    case "unlink":
      return `unlink ${op.remoteId} — ${op.reason}`;
  }
}
