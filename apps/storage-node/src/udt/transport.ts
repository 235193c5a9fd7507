// The UDT side of a storage node: the listener (UdtDataServer) and the WAN transport the
// pipeline forwarder (and node-to-node copies) use for hops in other sites.
import { UdtPool } from "@cumulus/client/node/udt-pool";
import type { PipelineHop } from "@cumulus/protocol/node-api";
import type { Metrics } from "../service/metrics.ts";
import type { Forward, WanTransport } from "../service/pipeline.ts";
import { UdtForward } from "./forward.ts";

export class UdtWanTransport implements WanTransport {
  readonly site: string;
  readonly pool: UdtPool;
  private readonly metrics: Metrics;

  constructor(site: string, metrics: Metrics, pool = new UdtPool()) {
    this.site = site;
    this.metrics = metrics;
    this.pool = pool;
  }

  canReach(hop: PipelineHop): boolean {
    return typeof hop.udt === "string" && hop.udt.length > 0;
  }

  start(hop: PipelineHop, chunk: string, token: string, size: number, idleTimeoutMs: number): Forward {
    return new UdtForward(hop, chunk, token, size, this.pool, this.metrics, idleTimeoutMs);
  }

  close(): void {
    this.pool.close();
  }
}
