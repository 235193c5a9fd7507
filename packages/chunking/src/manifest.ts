// The manifest describes a file as an ordered list of content-addressed
// chunks. Pure (no Node or DOM APIs beyond TextEncoder) so both the Node and
// browser entry points, and the server, share one definition.

export interface ManifestChunk {
  /** SHA-256 of the chunk bytes, 64 lowercase hex characters. */
  id: string;
  /** Chunk length in bytes, > 0. */
  size: number;
}

export interface Manifest {
  /** File length in bytes; equals the sum of chunk sizes. */
  size: number;
  chunks: ManifestChunk[];
}

const CHUNK_ID_RE = /^[0-9a-f]{64}$/;

/** True for 64 lowercase hex characters (uppercase is rejected so that ids have exactly one spelling). */
export function isChunkId(id: unknown): id is string {
  return typeof id === "string" && CHUNK_ID_RE.test(id);
}

export function manifestFromChunks(chunks: readonly ManifestChunk[]): Manifest {
  let size = 0;
  const out: ManifestChunk[] = [];
  for (const c of chunks) {
    size += c.size;
    out.push({ id: c.id, size: c.size });
  }
  return { size, chunks: out };
}

/** Builds a manifest from chunk records (e.g. the output of chunkStream/chunkBlob) without keeping their data. */
export async function collectManifest(
  records: AsyncIterable<{ id: string; size: number }> | Iterable<{ id: string; size: number }>,
): Promise<Manifest> {
  const chunks: ManifestChunk[] = [];
  let size = 0;
  for await (const r of records) {
    chunks.push({ id: r.id, size: r.size });
    size += r.size;
  }
  return { size, chunks };
}

/** Start offset of every chunk (same length as `chunks`). */
export function chunkOffsets(manifest: Manifest): number[] {
  const offsets: number[] = new Array(manifest.chunks.length);
  let pos = 0;
  for (let i = 0; i < manifest.chunks.length; i++) {
    offsets[i] = pos;
    pos += manifest.chunks[i]!.size;
  }
  return offsets;
}

/**
 * Finds the chunk containing byte `offset` (for range reads). `offsets` may be
 * passed in to avoid recomputing them for repeated lookups. Returns null when
 * offset is outside [0, size).
 */
export function locateOffset(
  manifest: Manifest,
  offset: number,
  offsets: readonly number[] = chunkOffsets(manifest),
): { index: number; chunkOffset: number; offsetInChunk: number } | null {
  if (!Number.isInteger(offset) || offset < 0 || offset >= manifest.size) return null;
  let lo = 0;
  let hi = offsets.length - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >>> 1;
    if (offsets[mid]! <= offset) lo = mid;
    else hi = mid - 1;
  }
  const chunkOffset = offsets[lo]!;
  return { index: lo, chunkOffset, offsetInChunk: offset - chunkOffset };
}

export interface ValidateManifestOptions {
  /** Also reject chunks larger than this (e.g. the chunker's maxSize). */
  maxChunkSize?: number;
}

/**
 * Returns a list of human-readable problems; empty means valid. Accepts
 * `unknown` because manifests arrive over the wire from untrusted clients.
 */
export function validateManifest(value: unknown, opts: ValidateManifestOptions = {}): string[] {
  const errors: string[] = [];
  if (typeof value !== "object" || value === null || Array.isArray(value)) {
    return ["manifest must be an object"];
  }
  const m = value as { size?: unknown; chunks?: unknown };
  const sizeOk = typeof m.size === "number" && Number.isSafeInteger(m.size) && m.size >= 0;
  if (!sizeOk) errors.push(`manifest size must be a non-negative integer, got ${String(m.size)}`);
  if (!Array.isArray(m.chunks)) {
    errors.push("manifest chunks must be an array");
    return errors;
  }
  let sum = 0;
  let sumOk = true;
  m.chunks.forEach((c: unknown, i: number) => {
    if (typeof c !== "object" || c === null) {
      errors.push(`chunk ${i} must be an object`);
      sumOk = false;
      return;
    }
    const { id, size } = c as { id?: unknown; size?: unknown };
    if (!isChunkId(id)) errors.push(`chunk ${i} id must be 64 lowercase hex characters, got ${JSON.stringify(id)}`);
    if (typeof size !== "number" || !Number.isSafeInteger(size) || size <= 0) {
      errors.push(`chunk ${i} size must be a positive integer, got ${String(size)}`);
      sumOk = false;
      return;
    }
    if (opts.maxChunkSize !== undefined && size > opts.maxChunkSize) {
      errors.push(`chunk ${i} size ${size} exceeds the maximum chunk size ${opts.maxChunkSize}`);
    }
    sum += size;
  });
  if (sizeOk && sumOk && sum !== m.size) {
    errors.push(`sum of chunk sizes (${sum}) does not equal manifest size (${String(m.size)})`);
  }
  return errors;
}

export function isValidManifest(value: unknown, opts?: ValidateManifestOptions): value is Manifest {
  return validateManifest(value, opts).length === 0;
}

export function assertValidManifest(value: unknown, opts?: ValidateManifestOptions): asserts value is Manifest {
  const errors = validateManifest(value, opts);
  if (errors.length > 0) throw new TypeError(`invalid manifest: ${errors.join("; ")}`);
}

const MANIFEST_HEADER = "cumulus-manifest-v1\n";

/**
 * Canonical byte encoding used for the manifest digest. A line format rather
 * than JSON so that the digest does not depend on key order, whitespace or
 * number formatting of any particular JSON serializer:
 *   "cumulus-manifest-v1\n" "<size>\n" then "<id> <size>\n" per chunk.
 * Hash it with SHA-256 (`manifestDigest` in node.ts / browser.ts) to get a
 * manifest id: equal files have equal manifest ids.
 */
export function canonicalManifestBytes(manifest: Manifest): Uint8Array {
  assertValidManifest(manifest);
  const parts: string[] = [MANIFEST_HEADER, `${manifest.size}\n`];
  for (const c of manifest.chunks) parts.push(`${c.id} ${c.size}\n`);
  return new TextEncoder().encode(parts.join(""));
}
