// Stream helpers shared by the UDT tests.
import { createHash } from "node:crypto";

import type { UdtServer, UdtSocket } from "../lib/index.ts";

export const MiB = 1024 * 1024;

export const sha256 = (data: Buffer): string => createHash("sha256").update(data).digest("hex");

/** Reads a socket to its end without destroying it (unlike for await). */
export function collect(socket: UdtSocket): Promise<{ bytes: number; sha256: string }> {
  return new Promise((resolve, reject) => {
    const hash = createHash("sha256");
    let bytes = 0;
    socket.on("data", (chunk: Buffer) => {
      hash.update(chunk);
      bytes += chunk.length;
    });
    socket.once("end", () => resolve({ bytes, sha256: hash.digest("hex") }));
    socket.once("error", reject);
  });
}

/** Writes data in blocks, honouring backpressure, then ends the stream. */
export async function send(socket: UdtSocket, data: Buffer, block = MiB): Promise<void> {
  for (let offset = 0; offset < data.length; offset += block) {
    if (!socket.write(data.subarray(offset, offset + block))) {
      await new Promise<void>((resolve, reject) => {
        const onDrain = () => {
          socket.off("error", onError);
          resolve();
        };
        const onError = (err: Error) => {
          socket.off("drain", onDrain);
          reject(err);
        };
        socket.once("drain", onDrain);
        socket.once("error", onError);
      });
    }
  }
  await new Promise<void>((resolve, reject) => {
    socket.end(resolve);
    socket.once("error", reject);
  });
}

export function closed(socket: UdtSocket): Promise<void> {
  return socket.closed ? Promise.resolve() : new Promise((resolve) => socket.once("close", () => resolve()));
}

export function nextConnection(server: UdtServer): Promise<UdtSocket> {
  return new Promise((resolve) => server.once("connection", resolve));
}
