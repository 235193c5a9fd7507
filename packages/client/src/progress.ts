/** Progress of one upload or download, reported after every state change (throttle in the UI). */
export interface TransferProgress {
  phase: "hashing" | "uploading" | "committing" | "downloading" | "done";
  /** Size of the file (or the part of it being hashed). */
  bytesTotal: number;
  /** Hashing: bytes chunked so far. Transfer: bytes sent/received plus bytes skipped. */
  bytesDone: number;
  chunksTotal: number;
  /** Chunks sent to (or received from) a storage node in this run. */
  chunksTransferred: number;
  bytesTransferred: number;
  /** Chunks the cluster already had (deduplicated) or that an earlier, interrupted run sent. */
  chunksSkipped: number;
  bytesSkipped: number;
}

export type ProgressListener = (p: Readonly<TransferProgress>) => void;

export function emptyProgress(
  phase: TransferProgress["phase"],
  bytesTotal: number,
  chunksTotal: number,
): TransferProgress {
  return {
    phase,
    bytesTotal,
    bytesDone: 0,
    chunksTotal,
    chunksTransferred: 0,
    bytesTransferred: 0,
    chunksSkipped: 0,
    bytesSkipped: 0,
  };
}
