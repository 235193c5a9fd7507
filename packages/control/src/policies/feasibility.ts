import { placeReplicas } from "@cumulus/placement/place";
import type { PlacementNode } from "@cumulus/placement/types";
import type { Policy } from "@cumulus/protocol/api";

/** A storage node row as placement sees it now: a node silent past the timeout is down. */
export function asPlacementNode(
  n: {
    id: string;
    name: string;
    status: PlacementNode["status"];
    capacityBytes: bigint | number;
    lastHeartbeatAt: Date;
    site: { name: string };
  },
  cutoff: Date,
): PlacementNode {
  return {
    id: n.id,
    name: n.name,
    site: n.site.name,
    weight: Number(n.capacityBytes),
    status: n.status === "active" && n.lastHeartbeatAt < cutoff ? "down" : n.status,
  };
}

// Any id will do: whether a policy can be placed does not depend on the chunk.
const PROBE_CHUNK = "0".repeat(64);

/**
 * What an admin must know right after setting a policy the cluster cannot follow now: a
 * replica count above the eligible nodes refuses uploads (an upload is acknowledged only
 * with all its copies) and leaves what is stored under-replicated; a required site with no
 * active node or a pinned node that is away or full only sends copies elsewhere. Null when
 * the nodes as they are can place it. `nodes` carry `full`: uploads skip full nodes, and so
 * does the question "can it be placed now".
 */
export function policyWarning(path: string, policy: Policy, nodes: readonly PlacementNode[]): string | null {
  const placed = placeReplicas(PROBE_CHUNK, nodes, policy);
  const warnings: string[] = [];
  const have = placed.nodes.length;
  if (have < policy.replicas) {
    const missing = policy.replicas - have;
    const fullNodes = nodes.filter((n) => n.full === true && n.status === "active").map((n) => n.name);
    const full = fullNodes.length > 0 ? ` with room (full: ${fullNodes.join(", ")})` : "";
    warnings.push(
      `only ${have} eligible storage node${have === 1 ? " is" : "s are"} active${full} for ${policy.replicas} replicas: ` +
        `uploads under ${path} are refused, and what is stored there stays under-replicated, ` +
        `until ${missing} more join or the replica count is lowered`,
    );
  }
  const other = (placed.reasons ?? []).filter((r) => !/^only \d+ eligible node/.test(r));
  if (other.length > 0)
    warnings.push(
      `placement cannot follow this policy fully now (${other.join("; ")}): copies go to other nodes meanwhile`,
    );
  return warnings.length > 0 ? warnings.join(". ") : null;
}
