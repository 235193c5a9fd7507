import type { NodeConfig } from "../env.ts";
import type { WanAwareChunkTransport } from "./replication-transport.ts";
import type { UdtDataServer, UdtDeps } from "./server.ts";

export interface UdtService {
  /** host:port as announced to the control plane. */
  address: string;
  port: number;
  shutdown(timeoutMs: number): Promise<void>;
}

/** The UDT port a config asks for: null = none. */
export function udtPortFor(config: Pick<NodeConfig, "udtPort" | "port">, httpPort: number): number | null {
  if (config.udtPort === null) return null;
  if (config.udtPort !== undefined) return config.udtPort;
  if (config.port === 0) return 0;
  const p = httpPort + 1000;
  return p <= 65535 ? p : 0;
}

/**
 * Starts the UDT listener and plugs UDT into pipeline forwarding for other sites. The
 * addon is loaded only here (dynamically); if it is missing the node runs HTTP-only and
 * says so, rather than refusing to start.
 */
export async function startUdt(opts: {
  config: NodeConfig;
  httpPort: number;
  deps: UdtDeps;
  /** Reconciler copies: sources in other sites are read over UDT from now on. */
  replication?: WanAwareChunkTransport;
}): Promise<UdtService | null> {
  const { config, deps } = opts;
  const port = udtPortFor(config, opts.httpPort);
  if (port === null) return null;
  const udt = await import("@cumulus/udt");
  if (!udt.isUdtAvailable()) {
    deps.log.warn("UDT addon unavailable (build it: npm run build -w @cumulus/udt): serving HTTP only");
    return null;
  }
  const { UdtDataServer } = await import("./server.ts");
  const { UdtWanTransport } = await import("./transport.ts");
  const { UdtPool, udtWanTuning } = await import("@cumulus/client/node/udt-pool");
  const tuning = udtWanTuning(config.udtRateMbit);
  const server = new UdtDataServer(deps, tuning);
  const bound = bindUdt(server, config, port, deps.log);
  const host = config.publicUrl
    ? new URL(config.publicUrl).hostname.replace(/^\[(.*)\]$/, "$1")
    : config.host === "0.0.0.0" || config.host === "::"
      ? "127.0.0.1"
      : config.host;
  const address = config.udtPublicAddress ?? `${host.includes(":") ? `[${host}]` : host}:${bound}`;
  const wan = new UdtWanTransport(config.site, deps.metrics, new UdtPool({ tuning }));
  deps.forwarder.useWanTransport(wan, host);
  opts.replication?.useUdt(wan.pool, host);
  deps.log.info(
    { udtPort: bound, udtAddress: address, udtRateMbit: config.udtRateMbit ?? null },
    "UDT data listener started",
  );
  return { address, port: bound, shutdown: (ms) => server.shutdown(ms) };
}

/**
 * A UDP port that is taken is only fatal when someone chose it. The default (HTTP port +
 * 1000) is a convention, and the node announces whatever it bound, so it moves to a free
 * port instead of leaving the node down: with several nodes on one machine, HTTP + 1000
 * can land on a port another program, or the kernel for a client socket, already holds.
 */
export function bindUdt(
  server: Pick<UdtDataServer, "listen">,
  config: Pick<NodeConfig, "host" | "udtPort">,
  port: number,
  log: { warn(obj: object, msg: string): void },
): number {
  try {
    return server.listen(config.host, port);
  } catch (err) {
    const why = err instanceof Error ? err.message : String(err);
    if (config.udtPort !== undefined || port === 0) {
      throw new Error(
        `cannot listen for UDT on UDP port ${port} (CUMULUS_NODE_UDT_PORT): ${why}. ` +
          "Choose a free port, or set CUMULUS_NODE_UDT_PORT=off to serve HTTP only",
        { cause: err },
      );
    }
    log.warn(
      { wantedUdtPort: port, err },
      `UDP port ${port} (HTTP port + 1000) is taken: listening for UDT on a free port instead (set CUMULUS_NODE_UDT_PORT to pin one)`,
    );
    return server.listen(config.host, 0);
  }
}
