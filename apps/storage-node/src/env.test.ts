import path from "node:path";
import { expect, it } from "vitest";
import { loadConfig } from "./env.ts";

const JOIN = { CUMULUS_JOIN_TOKEN: "j".repeat(24) };

it("has defaults that work for a localhost cluster", () => {
  const c = loadConfig({ ...JOIN }, "/repo");
  expect(c).toMatchObject({
    name: "node-1",
    site: "local",
    host: "127.0.0.1",
    port: 7101,
    controlUrl: "http://127.0.0.1:3000",
    capacityBytes: undefined,
    logLevel: "info",
  });
  expect(c.dataDir).toBe(path.resolve("/repo/.data/nodes/node-1"));
});

it("parses and validates variables, treating empty ones as unset", () => {
  const c = loadConfig(
    {
      ...JOIN,
      CUMULUS_NODE_NAME: "n-2",
      CUMULUS_NODE_PORT: "0",
      CUMULUS_NODE_CAPACITY_BYTES: "12345",
      CUMULUS_CONTROL_URL: "http://cp:3000/",
      CUMULUS_NODE_SITE: "",
    },
    "/x",
  );
  expect(c).toMatchObject({ name: "n-2", port: 0, capacityBytes: 12345, controlUrl: "http://cp:3000", site: "local" });
  expect(() => loadConfig({ ...JOIN, CUMULUS_NODE_PORT: "70000" }, "/")).toThrow(/CUMULUS_NODE_PORT/);
  expect(() => loadConfig({ ...JOIN, CUMULUS_NODE_NAME: "Bad Name" }, "/")).toThrow(/CUMULUS_NODE_NAME/);
  expect(() => loadConfig({}, "/")).toThrow(/CUMULUS_JOIN_TOKEN is required/);
  expect(loadConfig({ ...JOIN, CUMULUS_NODE_UDT_RATE_MBIT: "400" }, "/").udtRateMbit).toBe(400);
  expect(loadConfig({ ...JOIN }, "/").udtRateMbit).toBeUndefined();
  expect(() => loadConfig({ ...JOIN, CUMULUS_NODE_UDT_RATE_MBIT: "fast" }, "/")).toThrow(/CUMULUS_NODE_UDT_RATE_MBIT/);
  expect(() => loadConfig({ ...JOIN, CUMULUS_NODE_UDT_RATE_MBIT: "0" }, "/")).toThrow(/CUMULUS_NODE_UDT_RATE_MBIT/);
});
