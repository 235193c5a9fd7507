import dgram from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { isUdtAvailable, listen, type UdtServer } from "@cumulus/udt";
import { bindUdt, udtPortFor } from "./start.ts";

const servers: UdtServer[] = [];
const held: dgram.Socket[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  for (const s of held.splice(0)) s.close();
});

/** A real UDT listener, as the node's UdtDataServer binds it. */
const realServer = {
  listen(host: string, port: number): number {
    const server = listen({ host, port });
    servers.push(server);
    return server.address().port;
  },
};

/** Some other program holding a UDP port. */
async function holdUdpPort(): Promise<number> {
  const s = dgram.createSocket("udp4");
  held.push(s);
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", () => resolve()));
  return s.address().port;
}

function recordingLog() {
  const warnings: string[] = [];
  return { warnings, warn: (_obj: object, msg: string) => void warnings.push(msg) };
}

describe("udtPortFor", () => {
  it("is HTTP + 1000 by default, the configured port when set, and none when off", () => {
    expect(udtPortFor({ port: 7101 }, 7101)).toBe(8101);
    expect(udtPortFor({ port: 7101, udtPort: 9000 }, 7101)).toBe(9000);
    expect(udtPortFor({ port: 7101, udtPort: null }, 7101)).toBeNull();
    expect(udtPortFor({ port: 0 }, 40000)).toBe(0);
    expect(udtPortFor({ port: 65000 }, 65000)).toBe(0);
  });
});

describe.skipIf(!isUdtAvailable())("bindUdt", () => {
  it("binds the default port when it is free", async () => {
    const free = await holdUdpPort();
    held.pop()?.close();
    const log = recordingLog();
    expect(bindUdt(realServer, { host: "127.0.0.1" }, free, log)).toBe(free);
    expect(log.warnings).toEqual([]);
  });

  it("moves to a free port, and says so, when the default (HTTP + 1000) is taken", async () => {
    const taken = await holdUdpPort();
    const log = recordingLog();
    const bound = bindUdt(realServer, { host: "127.0.0.1" }, taken, log);
    expect(bound).toBeGreaterThan(0);
    expect(bound).not.toBe(taken);
    expect(log.warnings).toEqual([
      `UDP port ${taken} (HTTP port + 1000) is taken: listening for UDT on a free port instead (set CUMULUS_NODE_UDT_PORT to pin one)`,
    ]);
  });

  it("refuses to start, naming the setting, when a port chosen in CUMULUS_NODE_UDT_PORT is taken", async () => {
    const taken = await holdUdpPort();
    const log = recordingLog();
    expect(() => bindUdt(realServer, { host: "127.0.0.1", udtPort: taken }, taken, log)).toThrow(
      new RegExp(
        `^cannot listen for UDT on UDP port ${taken} \\(CUMULUS_NODE_UDT_PORT\\): .*set CUMULUS_NODE_UDT_PORT=off`,
      ),
    );
    expect(servers).toHaveLength(0);
    expect(log.warnings).toEqual([]);
  });
});
