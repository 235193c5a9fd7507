import type { StoreUsage } from "../store/chunk-store.ts";

/**
 * Plain counters with a minimal Prometheus text exposition: prom-client is not a
 * dependency here and the data path only needs integer increments.
 */
export class Metrics {
  bytesIn = 0;
  bytesOut = 0;
  inflight = 0;
  corruptChunks = 0;
  pipelineFailures = 0;
  /** Chunk bytes received over UDT (also counted in bytesIn). */
  udtBytesIn = 0;
  /** Chunk bytes sent over UDT: GETs served and pipeline forwards (GETs also count in bytesOut). */
  udtBytesOut = 0;
  /** UDT requests by op and status. */
  private readonly udtRequests = new Map<string, number>();
  private readonly requests = new Map<string, number>();
  private lastSample = { at: Date.now(), bytesIn: 0, bytesOut: 0 };

  countRequest(route: string, status: number): void {
    const key = `route="${route}",status="${status}"`;
    this.requests.set(key, (this.requests.get(key) ?? 0) + 1);
  }

  countUdtRequest(op: string, status: number): void {
    const key = `op="${op}",status="${status}"`;
    this.udtRequests.set(key, (this.udtRequests.get(key) ?? 0) + 1);
  }

  /** Bytes/s since the previous call: one heartbeat interval. */
  sampleRates(): { bytesInPerSec: number; bytesOutPerSec: number } {
    const now = Date.now();
    const secs = Math.max((now - this.lastSample.at) / 1000, 0.001);
    const rates = {
      bytesInPerSec: Math.max(0, (this.bytesIn - this.lastSample.bytesIn) / secs),
      bytesOutPerSec: Math.max(0, (this.bytesOut - this.lastSample.bytesOut) / secs),
    };
    this.lastSample = { at: now, bytesIn: this.bytesIn, bytesOut: this.bytesOut };
    return rates;
  }

  render(usage: StoreUsage): string {
    const lines: string[] = [];
    const metric = (name: string, type: string, help: string, samples: [string, number][]) => {
      lines.push(`# HELP ${name} ${help}`, `# TYPE ${name} ${type}`);
      for (const [labels, value] of samples) lines.push(`${name}${labels ? `{${labels}}` : ""} ${value}`);
    };
    metric("cumulus_node_http_requests_total", "counter", "HTTP requests by route and status.", [
      ...this.requests.entries(),
    ]);
    metric("cumulus_node_http_inflight_requests", "gauge", "Requests being served.", [["", this.inflight]]);
    metric("cumulus_node_bytes_in_total", "counter", "Chunk bytes received.", [["", this.bytesIn]]);
    metric("cumulus_node_bytes_out_total", "counter", "Chunk bytes sent.", [["", this.bytesOut]]);
    metric("cumulus_node_chunks_stored", "gauge", "Chunks stored on this node.", [["", usage.chunkCount]]);
    metric("cumulus_node_bytes_stored", "gauge", "Bytes of chunks stored on this node.", [["", usage.usedBytes]]);
    metric("cumulus_node_capacity_bytes", "gauge", "Configured capacity.", [["", usage.capacityBytes]]);
    metric("cumulus_node_corrupt_chunks_total", "counter", "Chunks found corrupt and quarantined.", [
      ["", this.corruptChunks],
    ]);
    metric("cumulus_node_pipeline_failures_total", "counter", "Writes whose downstream replica failed.", [
      ["", this.pipelineFailures],
    ]);
    metric("cumulus_node_udt_requests_total", "counter", "UDT data requests by op and status.", [
      ...this.udtRequests.entries(),
    ]);
    metric("cumulus_node_udt_bytes_in_total", "counter", "Chunk bytes received over UDT.", [["", this.udtBytesIn]]);
    metric("cumulus_node_udt_bytes_out_total", "counter", "Chunk bytes sent over UDT (served and forwarded).", [
      ["", this.udtBytesOut],
    ]);
    return lines.join("\n") + "\n";
  }
}
