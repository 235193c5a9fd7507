import { expect, test } from "vitest";
import { loadBoxEnv } from "./env.ts";

test("CUMULUS_NODE_CAPACITY_BYTES takes a size as people write it", () => {
  expect(loadBoxEnv("/repo", { CUMULUS_NODE_CAPACITY_BYTES: "160MiB" }).CUMULUS_NODE_CAPACITY_BYTES).toBe(
    160 * 2 ** 20,
  );
  expect(loadBoxEnv("/repo", { CUMULUS_NODE_CAPACITY_BYTES: "2T" }).CUMULUS_NODE_CAPACITY_BYTES).toBe(2 * 2 ** 40);
  expect(loadBoxEnv("/repo", { CUMULUS_NODE_CAPACITY_BYTES: "1000000" }).CUMULUS_NODE_CAPACITY_BYTES).toBe(1_000_000);
  expect(loadBoxEnv("/repo", {}).CUMULUS_NODE_CAPACITY_BYTES).toBeUndefined();
  expect(loadBoxEnv("/repo", { CUMULUS_NODE_CAPACITY_BYTES: "" }).CUMULUS_NODE_CAPACITY_BYTES).toBeUndefined();
});

test("a capacity it cannot read is one line naming the setting and what to write", () => {
  for (const bad of ["lots", "0", "-5G"]) {
    expect(() => loadBoxEnv("/repo", { CUMULUS_NODE_CAPACITY_BYTES: bad }), bad).toThrow(
      `bad configuration: CUMULUS_NODE_CAPACITY_BYTES: cannot read "${bad}" as a size: give one such as 500G or 2T`,
    );
  }
});
