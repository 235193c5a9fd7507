// Shared types for replica placement. Pure data, no behaviour.

export type NodeStatus = "active" | "draining" | "down" | "decommissioned";

export interface PlacementNode {
  id: string;
  name: string;
  site: string;
  /** Relative capacity (e.g. bytes); must be > 0 and finite for the node to receive replicas. */
  weight: number;
  status: NodeStatus;
  /**
   * Too little free space for new replicas: not eligible, like a draining node. Leave it
   * unset where placement is intent (where copies belong) rather than where new copies go.
   */
  full?: boolean;
}

export interface Policy {
  /** Number of replicas, 1..16. */
  replicas: number;
  /** Each listed site gets at least one replica. */
  requiredSites: string[];
  /** Replicas may only go to these sites; empty means every site. */
  allowedSites: string[];
  /** Node ids or names that always get a replica while eligible. */
  pinnedNodes: string[];
}

/** A policy as stored on a folder/file: omitted (undefined) fields are inherited. */
export type PartialPolicy = Partial<Policy>;

export interface PlacementResult {
  /** Chosen nodes in write-pipeline order; the first is the primary. */
  nodes: PlacementNode[];
  /**
   * Minimum number of additional replicas needed to satisfy the policy if
   * enough eligible nodes existed: max(missing replicas, required sites left
   * without a replica). 0 means the policy is fully satisfied.
   */
  shortfall: number;
  /** Human-readable notes on anything that kept the placement from being exactly the policy. */
  reasons?: string[];
}
