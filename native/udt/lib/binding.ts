// Loads the compiled addon. Kept separate from index.ts so the failure mode is one
// actionable line instead of a dlopen stack trace.
import { createRequire } from "node:module";
import { fileURLToPath } from "node:url";

export interface NativeAddress {
  address: string;
  port: number;
  family: "IPv4" | "IPv6";
}

/** Socket options as the addon reads them; -1 or absent keeps UDT's default. */
export interface NativeOptions {
  mss?: number;
  sendBufferSize?: number;
  receiveBufferSize?: number;
  udpSendBufferSize?: number;
  udpReceiveBufferSize?: number;
  maxBandwidth?: number;
  rateMbit?: number;
  rateLossThreshold?: number;
}

export interface NativeStats {
  msTimestamp: number;
  pktSentTotal: number;
  pktRecvTotal: number;
  pktSndLossTotal: number;
  pktRcvLossTotal: number;
  pktRetransTotal: number;
  mbpsSendRate: number;
  mbpsRecvRate: number;
  msRTT: number;
  mbpsBandwidth: number;
  pktFlightSize: number;
  pktCongestionWindow: number;
  usPktSndPeriod: number;
  byteAvailSndBuf: number;
  byteAvailRcvBuf: number;
}

/** Event kinds sent by UdtConnection (see src/connection.cc). */
export const ConnEvent = { data: 0, end: 1, written: 2, finished: 3, error: 4, close: 5 } as const;
/** Event kinds sent by UdtListener (see src/listener.cc). */
export const ListenerEvent = { connection: 0, error: 1, close: 2 } as const;

export interface NativeConnection {
  readStart(): void;
  readStop(): void;
  write(chunks: Buffer[]): void;
  end(): void;
  destroy(): void;
  stats(): NativeStats | null;
  ref(): void;
  unref(): void;
  localAddress(): NativeAddress | null;
  remoteAddress(): NativeAddress | null;
}

export interface NativeListener {
  address(): NativeAddress | null;
  close(): void;
  ref(): void;
  unref(): void;
}

export interface NativeConnectRequest {
  abandon(): void;
}

export interface Binding {
  UdtConnection: new (
    handle: number,
    accepted: boolean,
    onEvent: (kind: number, arg?: unknown) => void,
  ) => NativeConnection;
  UdtListener: new (
    ip: string,
    port: number,
    backlog: number,
    options: NativeOptions,
    onEvent: (kind: number, arg?: unknown) => void,
  ) => NativeListener;
  UdtConnectRequest: new (
    ip: string,
    port: number,
    timeoutMs: number,
    options: NativeOptions,
    onDone: (err: Error | null, handle?: number) => void,
  ) => NativeConnectRequest;
  closeSocket(handle: number): void;
}

export const ADDON_PATH = fileURLToPath(new URL("../build/Release/udt.node", import.meta.url));

const BUILD = "npm run build -w @cumulus/udt";

let cached: Binding | undefined;
let failure: Error | undefined;

function explain(err: unknown): string {
  const message = err instanceof Error ? err.message : String(err);
  const code = (err as { code?: unknown } | null)?.code;
  if (code === "MODULE_NOT_FOUND" || /Cannot find module/.test(message)) {
    return `UDT addon not built: run \`${BUILD}\` (needs Debian package libudt-dev: apt-get install libudt-dev)`;
  }
  if (/libudt\.so/.test(message)) {
    return `UDT library missing (libudt.so.0 cannot be loaded): run \`apt-get install libudt-dev\`, then \`${BUILD}\``;
  }
  const first = message.split("\n")[0] ?? message;
  return `UDT addon does not load in Node ${process.version}: rebuild it with \`${BUILD}\` (${first})`;
}

/** Returns the addon, or throws one Error whose message says how to fix the problem. */
export function loadBinding(): Binding {
  if (cached) return cached;
  if (!failure) {
    try {
      cached = createRequire(import.meta.url)(ADDON_PATH) as Binding;
      return cached;
    } catch (err) {
      failure = Object.assign(new Error(explain(err)), { code: "ERR_UDT_ADDON_UNAVAILABLE" });
    }
  }
  throw failure;
}

/** True when the addon and libudt load in this process. */
export function isUdtAvailable(): boolean {
  try {
    loadBinding();
    return true;
  } catch {
    return false;
  }
}
