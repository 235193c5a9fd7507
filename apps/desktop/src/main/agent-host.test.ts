import { createServer } from "node:http";
import type { AddressInfo } from "node:net";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import {
  AgentHostError,
  attachToRunningAgent,
  startAgentHost,
  startInProcessAgent,
  type StartAgent,
} from "./agent-host.ts";

let dir: string;
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "cumulus-agent-host-"));
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

const SECRET = "k".repeat(32);
const endpoint = (over: object = {}) => JSON.stringify({ port: 4567, secret: SECRET, pid: process.pid, ...over });

/** A stand-in agent module: a real loopback HTTP server behind the StartAgent signature. */
const tinyAgent: StartAgent = async () => {
  const server = createServer((_req, res) => res.end("ok"));
  await new Promise<void>((r) => server.listen(0, "127.0.0.1", r));
  return {
    port: (server.address() as AddressInfo).port,
    secret: SECRET,
    stop: () => new Promise<void>((r) => server.close(() => r())),
  };
};

describe("attachToRunningAgent", () => {
  it("connects to the agent described by agent.json", async () => {
    await writeFile(path.join(dir, "agent.json"), endpoint());
    const host = await attachToRunningAgent(dir);
    expect(host.kind).toBe("attached");
    expect(host.connection).toEqual({ baseUrl: "http://127.0.0.1:4567", secret: SECRET });
  });

  it("explains each way agent.json can be unusable", async () => {
    await expect(attachToRunningAgent(dir)).rejects.toThrow(/agent\.json does not exist.*cumulus sync/);
    await writeFile(path.join(dir, "agent.json"), "{");
    await expect(attachToRunningAgent(dir)).rejects.toThrow(/not valid JSON/);
    await writeFile(path.join(dir, "agent.json"), endpoint({ secret: "short" }));
    await expect(attachToRunningAgent(dir)).rejects.toThrow(/not an agent endpoint \(secret:/);
    await writeFile(path.join(dir, "agent.json"), endpoint({ pid: 2 ** 22 + 12345 }));
    await expect(attachToRunningAgent(dir)).rejects.toThrow(/is no longer running/);
  });
});

describe("startInProcessAgent", () => {
  it("runs the agent module's startAgent and stops it again", async () => {
    const host = await startInProcessAgent({ stateDir: dir }, async () => ({ startAgent: tinyAgent }));
    expect(host.kind).toBe("in-process");
    const res = await fetch(`${host.connection.baseUrl}/`);
    expect(await res.text()).toBe("ok");
    await host.stop();
    await expect(fetch(`${host.connection.baseUrl}/`)).rejects.toThrow();
  });

  it("runs the real @cumulus/sync-agent: signed out, its API answers with the secret, stop frees the port", async () => {
    const host = await startInProcessAgent({ stateDir: dir });
    const { baseUrl, secret } = host.connection;
    try {
      expect((await fetch(`${baseUrl}/api/status`)).status).toBe(401);
      const res = await fetch(`${baseUrl}/api/status`, { headers: { authorization: `Bearer ${secret}` } });
      expect(((await res.json()) as { state: string }).state).toBe("signed-out");
    } finally {
      await host.stop();
    }
    await expect(fetch(`${baseUrl}/api/status`)).rejects.toThrow();
  });

  it("says so when the agent module has no startAgent", async () => {
    await expect(startInProcessAgent({ stateDir: dir }, async () => ({}))).rejects.toThrow(
      /does not export startAgent/,
    );
  });

  it("refuses a startAgent result without a port and secret", async () => {
    const load = async () => ({ startAgent: async () => ({ port: 0, secret: "x", stop: async () => {} }) });
    await expect(startInProcessAgent({ stateDir: dir }, load)).rejects.toThrow(AgentHostError);
  });
});

describe("startAgentHost", () => {
  it("falls back to a running headless agent, and names both problems when there is none", async () => {
    const none = async () => ({});
    await expect(startAgentHost({ stateDir: dir }, none)).rejects.toThrow(
      /does not export startAgent.*; and .*does not exist/,
    );
    await writeFile(path.join(dir, "agent.json"), endpoint());
    expect((await startAgentHost({ stateDir: dir }, none)).kind).toBe("attached");
  });
});
