// Placement policies: validation, inheritance along the namespace, and merging
// for chunks shared (deduplicated) between files with different policies.

import type { PartialPolicy, PlacementNode, Policy } from "./types.ts";

export const MIN_REPLICAS = 1;
export const MAX_REPLICAS = 16;
export const DEFAULT_REPLICAS = 2;

export const DEFAULT_POLICY: Readonly<Policy> = Object.freeze({
  replicas: DEFAULT_REPLICAS,
  requiredSites: [],
  allowedSites: [],
  pinnedNodes: [],
});

const LIST_FIELDS = ["requiredSites", "allowedSites", "pinnedNodes"] as const;
const KNOWN_FIELDS = new Set<string>(["replicas", ...LIST_FIELDS]);

export interface ValidatePolicyOptions {
  /** Accept a policy with omitted fields (a stored, inheritable policy). Default false. */
  partial?: boolean;
  /** When given, sites in requiredSites/allowedSites must be among these. */
  knownSites?: Iterable<string>;
  /** When given, every pinned entry must match a node id or name. */
  nodes?: readonly Pick<PlacementNode, "id" | "name">[];
}

/**
 * Returns human-readable problems; empty means valid. Takes `unknown` because
 * policies come from API requests and the database.
 */
export function validatePolicy(value: unknown, opts: ValidatePolicyOptions = {}): string[] {
  if (typeof value !== "object" || value === null || Array.isArray(value)) return ["policy must be an object"];
  const errors: string[] = [];
  const p = value as Record<string, unknown>;

  for (const key of Object.keys(p)) {
    if (!KNOWN_FIELDS.has(key)) errors.push(`unknown policy field "${key}"`);
  }

  const replicas = p["replicas"];
  let replicasOk = false;
  if (replicas === undefined) {
    if (!opts.partial) errors.push("replicas is required");
  } else if (
    typeof replicas !== "number" ||
    !Number.isInteger(replicas) ||
    replicas < MIN_REPLICAS ||
    replicas > MAX_REPLICAS
  ) {
    errors.push(`replicas must be an integer from ${MIN_REPLICAS} to ${MAX_REPLICAS}, got ${JSON.stringify(replicas)}`);
  } else {
    replicasOk = true;
  }

  const lists: Partial<Record<(typeof LIST_FIELDS)[number], string[]>> = {};
  for (const field of LIST_FIELDS) {
    const v = p[field];
    if (v === undefined) {
      if (!opts.partial) errors.push(`${field} is required (use [] for none)`);
      continue;
    }
    if (!Array.isArray(v)) {
      errors.push(`${field} must be an array of strings`);
      continue;
    }
    let ok = true;
    const seen = new Set<string>();
    v.forEach((item: unknown, i: number) => {
      if (typeof item !== "string" || item.trim() === "") {
        errors.push(`${field}[${i}] must be a non-empty string, got ${JSON.stringify(item)}`);
        ok = false;
      } else if (seen.has(item)) {
        errors.push(`${field} lists "${item}" more than once`);
      } else {
        seen.add(item);
      }
    });
    if (ok) lists[field] = v as string[];
  }

  const { requiredSites, allowedSites, pinnedNodes } = lists;
  if (requiredSites && allowedSites && allowedSites.length > 0) {
    const allowed = new Set(allowedSites);
    for (const s of requiredSites) {
      if (!allowed.has(s)) errors.push(`required site "${s}" is not in allowedSites, so it can never hold a replica`);
    }
  }
  if (replicasOk) {
    const r = replicas as number;
    const requiredCount = requiredSites ? new Set(requiredSites).size : 0;
    if (requiredCount > r) {
      errors.push(
        `requiredSites lists ${requiredCount} sites but replicas is ${r}; each required site needs its own replica`,
      );
    }
    const pinnedCount = pinnedNodes ? new Set(pinnedNodes).size : 0;
    if (pinnedCount > r) {
      errors.push(`pinnedNodes lists ${pinnedCount} nodes but replicas is ${r}; each pinned node holds a replica`);
    }
  }

  if (opts.knownSites !== undefined) {
    const known = new Set(opts.knownSites);
    for (const field of ["requiredSites", "allowedSites"] as const) {
      for (const s of lists[field] ?? []) if (!known.has(s)) errors.push(`${field} names unknown site "${s}"`);
    }
  }
  if (opts.nodes !== undefined && pinnedNodes) {
    const refs = new Set<string>();
    for (const n of opts.nodes) {
      refs.add(n.id);
      refs.add(n.name);
    }
    for (const pin of pinnedNodes)
      if (!refs.has(pin)) errors.push(`pinned node "${pin}" does not match any node id or name`);
  }
  return errors;
}

export function assertValidPolicy(value: unknown, opts?: ValidatePolicyOptions): asserts value is Policy {
  const errors = validatePolicy(value, opts);
  if (errors.length > 0) throw new TypeError(`invalid policy: ${errors.join("; ")}`);
}

/**
 * Effective policy for an entry. `chain` lists the explicit (possibly partial)
 * policies from the entry itself up to the root; null/undefined entries (no
 * policy on that folder) are skipped. Per field, the nearest entry that sets
 * it wins, then `clusterDefault`, then DEFAULT_POLICY (2 replicas, no site
 * constraints, no pins). An empty list is an explicit setting (for
 * allowedSites it means "all sites" and overrides a restricting ancestor);
 * omit a field to inherit it. The result is not validated; see validatePolicy.
 */
export function resolveEffectivePolicy(
  chain: readonly (PartialPolicy | null | undefined)[],
  clusterDefault: PartialPolicy = {},
): Policy {
  const levels = [...chain, clusterDefault, DEFAULT_POLICY];
  const pick = <K extends keyof Policy>(field: K): Policy[K] => {
    for (const level of levels) {
      const v = level?.[field];
      if (v !== undefined) return v as Policy[K];
    }
    return DEFAULT_POLICY[field];
  };
  return {
    replicas: pick("replicas"),
    requiredSites: [...pick("requiredSites")],
    allowedSites: [...pick("allowedSites")],
    pinnedNodes: [...pick("pinnedNodes")],
  };
}

export interface MergeResult {
  policy: Policy;
  /** Constraints that could not all hold at once, and how they were resolved. */
  conflicts: string[];
}

function unionInOrder(lists: readonly (readonly string[])[]): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const list of lists) {
    for (const s of list) {
      if (!seen.has(s)) {
        seen.add(s);
        out.push(s);
      }
    }
  }
  return out;
}

/**
 * Strictest combination of the policies of every file sharing one chunk:
 * - replicas: the maximum, raised (up to 16) so every required site and
 *   pinned node can have its own replica;
 * - requiredSites, pinnedNodes: union;
 * - allowedSites: intersection of the policies that restrict sites (an empty
 *   list means unrestricted and does not take part).
 *
 * Empty intersection: the policies cannot all be honoured, and an empty list
 * would mean "anywhere", the least strict choice. We use the union of the
 * restricting lists instead: the chunk stays placeable (it is still referenced
 * and must not be lost) and never goes to a site that no referencing file
 * allows. The conflict is reported so the caller can surface it (e.g. refuse
 * to deduplicate across the two residency domains).
 */
export function mergePoliciesDetailed(policies: readonly Policy[]): MergeResult {
  if (policies.length === 0) throw new RangeError("mergePolicies needs at least one policy");
  const conflicts: string[] = [];

  const requiredSites = unionInOrder(policies.map((p) => p.requiredSites));
  const pinnedNodes = unionInOrder(policies.map((p) => p.pinnedNodes));

  const restricting = policies.filter((p) => p.allowedSites.length > 0).map((p) => p.allowedSites);
  let allowedSites: string[] = [];
  if (restricting.length > 0) {
    const others = restricting.slice(1).map((l) => new Set(l));
    allowedSites = unionInOrder([restricting[0]!]).filter((s) => others.every((o) => o.has(s)));
    if (allowedSites.length === 0) {
      allowedSites = unionInOrder(restricting);
      conflicts.push(
        `allowedSites do not intersect (${restricting.map((l) => `[${l.join(", ")}]`).join(" and ")}); using their union [${allowedSites.join(", ")}]`,
      );
    }
    const allowed = new Set(allowedSites);
    for (const s of requiredSites) {
      if (!allowed.has(s))
        conflicts.push(`required site "${s}" is outside the merged allowedSites [${allowedSites.join(", ")}]`);
    }
  }

  let replicas = Math.max(...policies.map((p) => p.replicas), requiredSites.length, pinnedNodes.length);
  if (replicas > MAX_REPLICAS) {
    conflicts.push(`merged policy needs ${replicas} replicas; capped at ${MAX_REPLICAS}`);
    replicas = MAX_REPLICAS;
  }
  return { policy: { replicas, requiredSites, allowedSites, pinnedNodes }, conflicts };
}

export function mergePolicies(policies: readonly Policy[]): Policy {
  return mergePoliciesDetailed(policies).policy;
}
