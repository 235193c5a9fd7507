import type { NodeStatus } from "@cumulus/protocol/node-api";

/**
 * What the control plane told this node, shared by the HTTP layer (token audience,
 * receipts, 503 until registered) and the control client (which alone writes it).
 */
export class NodeState {
  readonly name: string;
  readonly site: string;
  nodeId: string | null = null;
  epoch: number | null = null;
  status: NodeStatus | null = null;
  /** false before the first registration and while re-registering after STALE_EPOCH. */
  registered = false;

  constructor(name: string, site: string) {
    this.name = name;
    this.site = site;
  }

  /** The identity data routes act under, or null when they must answer 503. */
  active(): { nodeId: string; epoch: number } | null {
    if (!this.registered || this.nodeId === null || this.epoch === null) return null;
    return { nodeId: this.nodeId, epoch: this.epoch };
  }
}
