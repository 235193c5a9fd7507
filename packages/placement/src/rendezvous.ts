// Weighted rendezvous (highest random weight) hashing.
//
// Every (chunk, node) pair gets a pseudo-random u in (0,1); the node's score
// is -weight / ln(u). For independent uniform u's, the node with the highest
// score is node i with probability weight_i / sum(weights), and adding or
// removing a node only changes the winner for chunks where that node is (or
// was) the winner: this is what gives minimal data movement.
//
// Placement of stored data depends on these exact numbers, so the hash
// functions and seeds below are a frozen format (pinned by golden tests).
// Chunk ids are hashed as strings rather than parsed as hex so that any
// string id works; it costs well under a microsecond per chunk.

export interface Key64 {
  readonly hi: number;
  readonly lo: number;
}

// murmur3_x86_32 constants.
const C1 = 0xcc9e2d51;
const C2 = 0x1b873593;
// Independent seeds for the two 32-bit lanes of each 64-bit hash.
const KEY_SEED_HI = 0x2f0b3c71;
const KEY_SEED_LO = 0x7a4d19e5;
const PAIR_SEED_HI = 0x51c3e6a9;
const PAIR_SEED_LO = 0x0e8d6b37;

function rotl(v: number, k: number): number {
  return (v << k) | (v >>> (32 - k));
}

function mixBlock(h: number, k: number): number {
  k = Math.imul(k, C1);
  k = rotl(k, 15);
  k = Math.imul(k, C2);
  h ^= k;
  h = rotl(h, 13);
  return (Math.imul(h, 5) + 0xe6546b64) | 0;
}

function fmix(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85ebca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2ae35);
  h ^= h >>> 16;
  return h >>> 0;
}

/**
 * 64-bit hash of a string: two murmur3_x86_32 lanes with different seeds over
 * the string's UTF-16 code units (two code units per 32-bit block). Other
 * implementations must hash UTF-16 code units too, which for ASCII ids (hex
 * chunk ids, UUIDs) is simply the bytes zero-extended.
 */
export function hashString64(s: string): Key64 {
  let h1 = KEY_SEED_HI;
  let h2 = KEY_SEED_LO;
  const n = s.length;
  let i = 0;
  for (; i + 1 < n; i += 2) {
    const k = s.charCodeAt(i) | (s.charCodeAt(i + 1) << 16);
    h1 = mixBlock(h1, k);
    h2 = mixBlock(h2, k);
  }
  if (i < n) {
    // murmur3 tail: mixed into h without the rotate/add step.
    let k = Math.imul(s.charCodeAt(i), C1);
    k = rotl(k, 15);
    k = Math.imul(k, C2);
    h1 ^= k;
    h2 ^= k;
  }
  return { hi: fmix(h1 ^ n), lo: fmix(h2 ^ n) };
}

/**
 * Per-node prefix of the pair hash: murmur3 state after the node's two words,
 * for both lanes. The node words come first so this can be computed once per
 * node and reused for every chunk (see createPlacer).
 */
export interface NodePrefix {
  readonly a: number;
  readonly b: number;
}

export function nodePrefix(node: Key64): NodePrefix {
  return {
    a: mixBlock(mixBlock(PAIR_SEED_HI, node.hi), node.lo),
    b: mixBlock(mixBlock(PAIR_SEED_LO, node.hi), node.lo),
  };
}

/**
 * Maps a (node, chunk) pair to u in the open interval (0,1) with 52 random
 * bits: murmur3 over the four 32-bit words [node.hi, node.lo, chunk.hi,
 * chunk.lo], two lanes with different seeds. 52 rather than 53 bits so that
 * (x + 0.5) is exact and u can never round to 0 or 1 (ln(1) = 0 would divide
 * by zero).
 */
export function unitFromPrefix(prefixA: number, prefixB: number, chunk: Key64): number {
  const a = mixBlock(mixBlock(prefixA, chunk.hi), chunk.lo);
  const b = mixBlock(mixBlock(prefixB, chunk.hi), chunk.lo);
  const hi20 = fmix(a ^ 16) >>> 12;
  const lo32 = fmix(b ^ 16);
  return (hi20 * 4294967296 + lo32 + 0.5) / 4503599627370496; // 2^52
}

export function pairUnit(chunk: Key64, node: Key64): number {
  const p = nodePrefix(node);
  return unitFromPrefix(p.a, p.b, chunk);
}

/**
 * Weighted HRW score; higher wins. Non-positive or non-finite weights score
 * -Infinity (never chosen). Math.log is used as V8 implements it (a port of
 * fdlibm, identical on every platform); an engine disagreeing in the last ulp
 * could only swap two nodes whose scores tie to ~1e-16, which does not happen
 * in practice.
 */
export function weightedScore(u: number, weight: number): number {
  if (!(weight > 0) || !Number.isFinite(weight)) return -Infinity;
  return -weight / Math.log(u);
}

// Node ids are hashed once and reused: placement is evaluated for millions of
// chunks against the same few hundred nodes. Cleared when it grows past the
// cap so a long-lived process with churning ids cannot leak.
const NODE_CACHE = new Map<string, NodePrefix>();
const NODE_CACHE_MAX = 100_000;

/** Cached nodePrefix(hashString64(id)). */
export function nodePrefixOf(id: string): NodePrefix {
  let p = NODE_CACHE.get(id);
  if (p === undefined) {
    if (NODE_CACHE.size >= NODE_CACHE_MAX) NODE_CACHE.clear();
    p = nodePrefix(hashString64(id));
    NODE_CACHE.set(id, p);
  }
  return p;
}

export function chunkKey(chunkId: string): Key64 {
  return hashString64(chunkId);
}

function scoreWith(ck: Key64, node: { id: string; weight: number }): number {
  const p = nodePrefixOf(node.id);
  return weightedScore(unitFromPrefix(p.a, p.b, ck), node.weight);
}

/** score(chunkId, node) = -node.weight / ln(u(node.id, chunkId)). */
export function score(chunkId: string, node: { id: string; weight: number }): number {
  return scoreWith(chunkKey(chunkId), node);
}

/**
 * Nodes sorted by descending score for this chunk (the HRW preference list).
 * Exact ties (practically impossible) are broken by id so the order never
 * depends on the input order.
 */
export function rankNodes<T extends { id: string; weight: number }>(chunkId: string, nodes: readonly T[]): T[] {
  const ck = chunkKey(chunkId);
  const scored = nodes.map((node) => ({ node, s: scoreWith(ck, node) }));
  scored.sort((x, y) => (ranksBefore(x.s, x.node.id, y.s, y.node.id) ? -1 : 1));
  return scored.map((e) => e.node);
}

/** Does (score a, id a) rank strictly before (score b, id b)? Ids are unique, so this is a strict total order. */
export function ranksBefore(sa: number, ida: string, sb: number, idb: string): boolean {
  if (sa !== sb) return sa > sb;
  return ida < idb;
}
