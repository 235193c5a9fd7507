// The chunk data API over UDT (WAN acceleration): the same PUT/GET/HEAD semantics, tokens
// and receipts as the HTTP routes, framed as in @cumulus/protocol/udt-frames.
import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { listen, type UdtOptions, type UdtServer, type UdtSocket } from "@cumulus/udt";
import { UDT_WAN_TUNING } from "@cumulus/client/node/udt-pool";
import { AppError } from "@cumulus/protocol/errors";
import type { CapabilityClaims } from "@cumulus/protocol/node-api";
import {
  UdtFrameError,
  UdtFrameReader,
  ZUdtRequest,
  encodeUdtHeader,
  type UdtRequest,
  type UdtResponse,
} from "@cumulus/protocol/udt-frames";
import { authorizeToken, chunkNotStored, putChunk, type Authorized, type ChunkApiDeps } from "../service/chunk-api.ts";

export interface UdtDeps extends ChunkApiDeps {
  log: Logger;
}

/** A connection with no request for this long is closed (clients keep theirs idle for 30 s). */
const IDLE_TIMEOUT_MS = 60_000;

export class UdtDataServer {
  private readonly d: UdtDeps;
  private server: UdtServer | null = null;
  private readonly sockets = new Set<UdtSocket>();
  private readonly inflight = new Set<Promise<void>>();

  private readonly tuning: UdtOptions;

  constructor(deps: UdtDeps, tuning: UdtOptions = UDT_WAN_TUNING) {
    this.d = deps;
    this.tuning = tuning;
  }

  /** Binds the UDP port (throws a UdtError if it is taken); returns the bound port. */
  listen(host: string, port: number): number {
    const server = listen({ host, port, ...this.tuning });
    server.on("connection", (socket: UdtSocket) => this.serve(socket));
    server.on("error", (err: Error) => this.d.log.error({ err }, "UDT listener failed"));
    this.server = server;
    return server.address().port;
  }

  /** Stops accepting, lets requests in progress finish up to `timeoutMs`, then cuts the rest. */
  async shutdown(timeoutMs: number): Promise<void> {
    await this.server?.close();
    if (this.inflight.size > 0) {
      let timer: NodeJS.Timeout | undefined;
      await Promise.race([
        Promise.allSettled([...this.inflight]),
        new Promise((r) => {
          timer = setTimeout(r, timeoutMs);
        }),
      ]);
      clearTimeout(timer);
    }
    for (const s of this.sockets) s.destroy();
  }

  private serve(socket: UdtSocket): void {
    this.sockets.add(socket);
    socket.on("error", () => undefined);
    socket.on("close", () => this.sockets.delete(socket));
    const reader = new UdtFrameReader(socket as AsyncIterable<Uint8Array>);
    let idle: NodeJS.Timeout | undefined;
    const arm = () => {
      clearTimeout(idle);
      idle = setTimeout(() => socket.destroy(), IDLE_TIMEOUT_MS);
    };
    void (async () => {
      try {
        for (;;) {
          arm();
          const req = await reader.header(ZUdtRequest);
          clearTimeout(idle);
          if (req === null) {
            socket.end();
            return;
          }
          const work = this.handle(socket, reader, req);
          this.inflight.add(
            work.then(
              () => undefined,
              () => undefined,
            ),
          );
          const keep = await work;
          if (!keep) return;
        }
      } catch (err) {
        if (err instanceof UdtFrameError) {
          this.d.log.warn({ err: err.message, peer: socket.remoteAddress }, "UDT peer broke the framing");
          await this.fail(socket, null, new AppError("BAD_REQUEST", err.message));
        } else socket.destroy();
      } finally {
        clearTimeout(idle);
      }
    })();
  }

  /** One request; resolves true when the connection can take the next one. */
  private async handle(socket: UdtSocket, reader: UdtFrameReader, req: UdtRequest): Promise<boolean> {
    let status = 0;
    try {
      if (req.op === "put") status = await this.put(socket, reader, req);
      else status = await this.get(socket, req);
      return true;
    } catch (err) {
      const appErr = err instanceof AppError ? err : null;
      if (appErr === null) {
        // The socket broke (or the stored copy failed verification mid-stream).
        if (!(err instanceof UdtFrameError)) this.d.log.debug({ err }, "UDT request cut off");
        status = 499;
        socket.destroy();
        return false;
      }
      if (appErr.code === "UNAVAILABLE" && appErr.details && "failedNodeId" in appErr.details) {
        this.d.metrics.pipelineFailures += 1;
      }
      status = appErr.httpStatus;
      await this.fail(socket, req, appErr);
      return false;
    } finally {
      this.d.metrics.countUdtRequest(req.op, status);
    }
  }

  /** Sends the error and closes: the request body may not have been read. */
  private async fail(socket: UdtSocket, _req: UdtRequest | null, err: AppError): Promise<void> {
    if (socket.destroyed) return;
    const h: UdtResponse = { status: err.httpStatus, error: err.toBody().error };
    await new Promise<void>((resolve) => {
      const timer = setTimeout(done, 10_000);
      function done() {
        clearTimeout(timer);
        socket.destroy();
        resolve();
      }
      socket.end(encodeUdtHeader(h), done);
      socket.once("close", done);
    });
  }

  private authorize(socket: UdtSocket, op: CapabilityClaims["op"], chunk: string, token: string): Promise<Authorized> {
    return authorizeToken(this.d, token, { op, chunk, remoteAddress: socket.remoteAddress });
  }

  private async put(
    socket: UdtSocket,
    reader: UdtFrameReader,
    req: Extract<UdtRequest, { op: "put" }>,
  ): Promise<number> {
    const { chunk: id, size, token } = req;
    const { claims, nodeId, epoch } = await this.authorize(socket, "write", id, token);
    const { receipts, created } = await putChunk(this.d, {
      id,
      size,
      token,
      claims,
      nodeId,
      epoch,
      body: reader.body(size),
      transport: "udt",
    });
    if (created) this.d.log.debug({ chunk: id, size, transport: "udt" }, "chunk stored");
    await writeAll(socket, encodeUdtHeader({ status: 201, receipts }));
    return 201;
  }

  private async get(socket: UdtSocket, req: Extract<UdtRequest, { op: "get" | "head" }>): Promise<number> {
    const id = req.chunk;
    await this.authorize(socket, "read", id, req.token);
    const handle = await this.d.store.open(id);
    if (handle === null) throw chunkNotStored(id, this.d.state.name);
    const size = handle.size;
    if (req.op === "head") {
      await handle.close();
      await writeAll(socket, encodeUdtHeader({ status: 200, chunkSize: size, length: 0 }));
      return 200;
    }
    let stream: Readable;
    let status: number;
    let header: UdtResponse;
    if (req.range) {
      const { start } = req.range;
      const end = Math.min(req.range.end, size - 1);
      if (start >= size) {
        await handle.close();
        throw new AppError(
          "BAD_REQUEST",
          `range ${start}-${req.range.end} is not satisfiable: chunk ${id} has ${size} bytes`,
        );
      }
      stream = await handle.readRange(start, end);
      status = 206;
      header = { status, chunkSize: size, length: end - start + 1, range: { start, end } };
    } else {
      stream = handle.readAll();
      status = 200;
      header = { status, chunkSize: size, length: size };
    }
    await writeAll(socket, encodeUdtHeader(header));
    const metrics = this.d.metrics;
    try {
      for await (const b of stream as AsyncIterable<Buffer>) {
        metrics.bytesOut += b.length;
        metrics.udtBytesOut += b.length;
        await writeAll(socket, b);
      }
    } catch (err) {
      // A corrupt stored copy (or a broken socket): the client must see a cut stream.
      socket.destroy();
      throw err instanceof AppError ? new Error(err.message) : err;
    }
    return status;
  }
}

function writeAll(socket: UdtSocket, buf: Uint8Array): Promise<void> {
  return new Promise((resolve, reject) => {
    if (socket.destroyed) {
      reject(new Error("UDT connection closed"));
      return;
    }
    if (socket.write(buf)) {
      resolve();
      return;
    }
    const done = () => {
      socket.off("drain", done);
      socket.off("close", done);
      if (socket.destroyed) reject(new Error("UDT connection closed"));
      else resolve();
    };
    socket.once("drain", done);
    socket.once("close", done);
  });
}
