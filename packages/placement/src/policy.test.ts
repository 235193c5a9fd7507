import { describe, expect, test } from "vitest";
import { placeReplicas } from "./place.ts";
import {
  DEFAULT_POLICY,
  assertValidPolicy,
  mergePolicies,
  mergePoliciesDetailed,
  resolveEffectivePolicy,
  validatePolicy,
} from "./policy.ts";
import { node, policy } from "./testing/fixtures.ts";
import { BASE_SEED, withSeed } from "@cumulus/testing/prng";
import type { Policy } from "./types.ts";

describe("validatePolicy", () => {
  test("accepts valid policies", () => {
    expect(validatePolicy(DEFAULT_POLICY)).toEqual([]);
    expect(
      validatePolicy({
        replicas: 3,
        requiredSites: ["eu-1", "eu-2"],
        allowedSites: ["eu-1", "eu-2", "eu-3"],
        pinnedNodes: ["n1"],
      }),
    ).toEqual([]);
    expect(() => assertValidPolicy(policy())).not.toThrow();
  });

  test.each([0, 17, 2.5, -1, "2", null, Number.NaN])("rejects replicas %s", (replicas) => {
    expect(validatePolicy({ ...policy(), replicas })).toEqual([
      `replicas must be an integer from 1 to 16, got ${JSON.stringify(replicas)}`,
    ]);
  });

  test("rejects duplicates, empty names and non-arrays", () => {
    expect(validatePolicy(policy({ replicas: 3, requiredSites: ["a", "a"] }))).toEqual([
      'requiredSites lists "a" more than once',
    ]);
    expect(validatePolicy(policy({ allowedSites: ["a", "b", "a"] }))).toEqual([
      'allowedSites lists "a" more than once',
    ]);
    expect(validatePolicy(policy({ pinnedNodes: ["n1", "n1"] }))).toEqual(['pinnedNodes lists "n1" more than once']);
    expect(validatePolicy({ ...policy(), allowedSites: ["", 3] })).toEqual([
      'allowedSites[0] must be a non-empty string, got ""',
      "allowedSites[1] must be a non-empty string, got 3",
    ]);
    expect(validatePolicy({ ...policy(), requiredSites: "eu-1" })).toEqual([
      "requiredSites must be an array of strings",
    ]);
  });

  test("rejects contradictions", () => {
    expect(validatePolicy(policy({ requiredSites: ["x"], allowedSites: ["a"] }))).toEqual([
      'required site "x" is not in allowedSites, so it can never hold a replica',
    ]);
    expect(validatePolicy(policy({ replicas: 2, requiredSites: ["a", "b", "c"] }))).toEqual([
      "requiredSites lists 3 sites but replicas is 2; each required site needs its own replica",
    ]);
    expect(validatePolicy(policy({ replicas: 1, pinnedNodes: ["n1", "n2"] }))).toEqual([
      "pinnedNodes lists 2 nodes but replicas is 1; each pinned node holds a replica",
    ]);
  });

  test("shape errors, missing and unknown fields", () => {
    expect(validatePolicy(null)).toEqual(["policy must be an object"]);
    expect(validatePolicy({})).toEqual([
      "replicas is required",
      "requiredSites is required (use [] for none)",
      "allowedSites is required (use [] for none)",
      "pinnedNodes is required (use [] for none)",
    ]);
    expect(validatePolicy({}, { partial: true })).toEqual([]);
    expect(validatePolicy({ replica: 3 }, { partial: true })).toEqual(['unknown policy field "replica"']);
    expect(() => assertValidPolicy({ replicas: 0 }, { partial: true })).toThrow(/invalid policy: replicas must be/);
  });

  test("checks sites and pins against the cluster when given", () => {
    const nodes = [node("id-1", "a", { name: "alpha" })];
    expect(
      validatePolicy(policy({ requiredSites: ["a"], allowedSites: ["a", "z"], pinnedNodes: ["alpha", "id-1"] }), {
        knownSites: ["a", "b"],
        nodes,
      }),
    ).toEqual(['allowedSites names unknown site "z"']);
    expect(validatePolicy(policy({ pinnedNodes: ["beta"] }), { nodes })).toEqual([
      'pinned node "beta" does not match any node id or name',
    ]);
  });
});

describe("resolveEffectivePolicy", () => {
  test("defaults: 2 replicas, no constraints", () => {
    expect(resolveEffectivePolicy([])).toEqual({ replicas: 2, requiredSites: [], allowedSites: [], pinnedNodes: [] });
    expect(resolveEffectivePolicy([null, undefined, {}])).toEqual(DEFAULT_POLICY);
  });

  test("nearest explicit setting wins per field", () => {
    const file = { pinnedNodes: ["n7"] };
    const folder = { replicas: 3 };
    const root = { replicas: 5, allowedSites: ["eu-1", "eu-2"], requiredSites: ["eu-1"] };
    expect(resolveEffectivePolicy([file, null, folder, root], { replicas: 1, allowedSites: ["us"] })).toEqual({
      replicas: 3,
      requiredSites: ["eu-1"],
      allowedSites: ["eu-1", "eu-2"],
      pinnedNodes: ["n7"],
    });
  });

  test("cluster default applies below the root; an explicit empty list overrides an ancestor", () => {
    expect(resolveEffectivePolicy([{ replicas: 4 }], { replicas: 3, allowedSites: ["a"] })).toEqual(
      policy({ replicas: 4, allowedSites: ["a"] }),
    );
    expect(resolveEffectivePolicy([{ allowedSites: [] }, { allowedSites: ["a"] }]).allowedSites).toEqual([]);
    // The cluster default may also be passed as the last chain element.
    expect(resolveEffectivePolicy([{}, { replicas: 3 }]).replicas).toBe(3);
  });

  test("result does not alias the inputs", () => {
    const root = { requiredSites: ["a"] };
    const eff = resolveEffectivePolicy([root]);
    eff.requiredSites.push("b");
    expect(root.requiredSites).toEqual(["a"]);
    expect(DEFAULT_POLICY.requiredSites).toEqual([]);
  });
});

describe("mergePolicies", () => {
  test("a single policy merges to itself", () => {
    const p = policy({ replicas: 3, requiredSites: ["a"], allowedSites: ["a", "b"], pinnedNodes: ["n1"] });
    expect(mergePolicies([p])).toEqual(p);
    expect(() => mergePolicies([])).toThrow(RangeError);
  });

  test("strictest combination", () => {
    const merged = mergePoliciesDetailed([
      policy({ replicas: 2, requiredSites: ["a"], allowedSites: ["a", "b", "c"], pinnedNodes: ["n1"] }),
      policy({ replicas: 3, requiredSites: ["b"], allowedSites: [], pinnedNodes: ["n2", "n1"] }),
      policy({ replicas: 1, requiredSites: ["a"], allowedSites: ["c", "b", "a", "d"] }),
    ]);
    expect(merged).toEqual({
      policy: { replicas: 3, requiredSites: ["a", "b"], allowedSites: ["a", "b", "c"], pinnedNodes: ["n1", "n2"] },
      conflicts: [],
    });
    expect(validatePolicy(merged.policy)).toEqual([]);
  });

  test("replicas are raised so every required site and pin has its own replica", () => {
    const merged = mergePolicies([
      policy({ replicas: 1, requiredSites: ["a"] }),
      policy({ replicas: 1, requiredSites: ["b"] }),
      policy({ replicas: 1, requiredSites: ["c"] }),
    ]);
    expect(merged.replicas).toBe(3);
    expect(validatePolicy(merged)).toEqual([]);
  });

  test("disjoint allowedSites: documented fallback to the union, reported as a conflict", () => {
    const eu = policy({ replicas: 2, allowedSites: ["eu-1", "eu-2"] });
    const us = policy({ replicas: 2, allowedSites: ["us-1"] });
    const merged = mergePoliciesDetailed([eu, us]);
    expect(merged.policy.allowedSites).toEqual(["eu-1", "eu-2", "us-1"]);
    expect(merged.conflicts).toEqual([
      "allowedSites do not intersect ([eu-1, eu-2] and [us-1]); using their union [eu-1, eu-2, us-1]",
    ]);
    // Never empty ("anywhere"): the chunk still cannot go to a site no file allows.
    const nodes = [node("e1", "eu-1"), node("u1", "us-1"), node("x1", "other")];
    const res = placeReplicas("f".repeat(64), nodes, merged.policy);
    expect(res.nodes.map((n) => n.site).sort()).toEqual(["eu-1", "us-1"]);
  });

  test("required sites outside the merged allowed sites are reported", () => {
    const merged = mergePoliciesDetailed([
      policy({ replicas: 2, requiredSites: ["a"], allowedSites: ["a", "b"] }),
      policy({ replicas: 2, requiredSites: ["c"], allowedSites: ["b", "c"] }),
    ]);
    expect(merged.policy.allowedSites).toEqual(["b"]);
    expect(merged.conflicts).toEqual([
      'required site "a" is outside the merged allowedSites [b]',
      'required site "c" is outside the merged allowedSites [b]',
    ]);
  });

  test("replicas capped at 16", () => {
    const many = Array.from({ length: 20 }, (_, i) => policy({ replicas: 1, pinnedNodes: [`n${i}`] }));
    const merged = mergePoliciesDetailed(many);
    expect(merged.policy.replicas).toBe(16);
    expect(merged.conflicts).toEqual(["merged policy needs 20 replicas; capped at 16"]);
  });

  test("randomized: merged policy is at least as strict as each input, and order-insensitive as a set", () => {
    const sites = ["a", "b", "c", "d"];
    for (let k = 0; k < 200; k++) {
      withSeed(BASE_SEED + 3000 + k, (rng) => {
        const pick = (p: number) => sites.filter(() => rng.float() < p);
        const ps: Policy[] = Array.from({ length: 1 + rng.int(4) }, () =>
          policy({
            replicas: 1 + rng.int(4),
            requiredSites: pick(0.2),
            allowedSites: rng.float() < 0.5 ? [] : pick(0.7),
            pinnedNodes: rng.float() < 0.8 ? [] : [`n${rng.int(5)}`],
          }),
        );
        const { policy: m, conflicts } = mergePoliciesDetailed(ps);
        const reversed = mergePolicies([...ps].reverse());
        expect(reversed.replicas).toBe(m.replicas);
        expect(new Set(reversed.requiredSites)).toEqual(new Set(m.requiredSites));
        expect(new Set(reversed.allowedSites)).toEqual(new Set(m.allowedSites));
        expect(new Set(reversed.pinnedNodes)).toEqual(new Set(m.pinnedNodes));
        for (const p of ps) {
          expect(m.replicas).toBeGreaterThanOrEqual(p.replicas);
          for (const s of p.requiredSites) expect(m.requiredSites).toContain(s);
          for (const n of p.pinnedNodes) expect(m.pinnedNodes).toContain(n);
          const hasConflict = conflicts.some((c) => c.startsWith("allowedSites do not intersect"));
          if (p.allowedSites.length > 0 && !hasConflict) {
            for (const s of m.allowedSites) expect(p.allowedSites).toContain(s);
          }
        }
        if (conflicts.length === 0) expect(validatePolicy(m)).toEqual([]);
      });
    }
  });
});
