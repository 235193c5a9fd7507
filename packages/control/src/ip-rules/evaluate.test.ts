import { describe, expect, it } from "vitest";
import { cidrContains, formatCidr, normalizeIp, parseCidr, parseIp, sameClient } from "./cidr.ts";
import { evaluateIpRules, type IpRuleLike } from "./evaluate.ts";

const rule = (cidr: string, action: "allow" | "deny", scope: IpRuleLike["scope"] = "global", groupName?: string) => ({
  cidr,
  action,
  scope,
  ...(groupName ? { groupName } : {}),
});

describe("cidr", () => {
  it("parses IPv4, IPv6, bracketed, zoned and IPv4-mapped addresses", () => {
    expect(parseIp("10.1.2.3")).toEqual({ family: 4, value: 0x0a010203n });
    expect(parseIp("::ffff:127.0.0.1")).toEqual({ family: 4, value: 0x7f000001n });
    expect(parseIp("[::1]")).toEqual({ family: 6, value: 1n });
    expect(parseIp("fe80::1%eth0")).toEqual({ family: 6, value: (0xfe80n << 112n) | 1n });
    expect(parseIp("2001:db8::8a2e:370:7334")?.family).toBe(6);
    for (const bad of ["", "1.2.3", "1.2.3.256", "01.2.3.4", "1:2:3:4:5:6:7:8:9", "1::2::3", "g::1", "10.0.0.1/8"]) {
      expect(parseIp(bad), bad).toBeNull();
    }
  });

  it("normalizes CIDR blocks, clearing host bits, and refuses bad ones with a reason", () => {
    expect(parseCidr("10.1.2.3/8")).toMatchObject({ ok: true, canonical: "10.0.0.0/8" });
    expect(parseCidr("192.168.1.7")).toMatchObject({ ok: true, canonical: "192.168.1.7/32" });
    expect(parseCidr("2001:DB8:0:0:1::/32")).toMatchObject({ ok: true, canonical: "2001:db8::/32" });
    expect(parseCidr("::1")).toMatchObject({ ok: true, canonical: "::1/128" });
    expect(parseCidr("::ffff:10.0.0.0/104")).toMatchObject({ ok: true, canonical: "10.0.0.0/8" });
    expect(parseCidr("0.0.0.0/0")).toMatchObject({ ok: true, canonical: "0.0.0.0/0" });
    expect(parseCidr("::/0")).toMatchObject({ ok: true, canonical: "::/0" });
    expect(parseCidr("10.0.0.0/33")).toMatchObject({ ok: false, error: expect.stringContaining("0 to 32") });
    expect(parseCidr("2001:db8::/129")).toMatchObject({ ok: false, error: expect.stringContaining("0 to 128") });
    expect(parseCidr("banana/8")).toMatchObject({ ok: false, error: "banana is not an IPv4 or IPv6 address" });
    expect(parseCidr("10.0.0.0/x")).toMatchObject({ ok: false });
  });

  it("matches addresses of the same family only", () => {
    const c = parseCidr("10.0.0.0/8");
    if (!c.ok) throw new Error("parse");
    expect(cidrContains(c.cidr, parseIp("10.255.0.1")!)).toBe(true);
    expect(cidrContains(c.cidr, parseIp("::ffff:10.0.0.1")!)).toBe(true);
    expect(cidrContains(c.cidr, parseIp("11.0.0.1")!)).toBe(false);
    expect(cidrContains(c.cidr, parseIp("::a00:1")!)).toBe(false);
    const v6 = parseCidr("2001:db8::/32");
    if (!v6.ok) throw new Error("parse");
    expect(cidrContains(v6.cidr, parseIp("2001:db8:ffff::1")!)).toBe(true);
    expect(cidrContains(v6.cidr, parseIp("2001:db9::1")!)).toBe(false);
    expect(formatCidr(v6.cidr)).toBe("2001:db8::/32");
  });

  it("normalizes and compares client addresses; loopback addresses are one client", () => {
    expect(normalizeIp("::ffff:192.0.2.1")).toBe("192.0.2.1");
    expect(normalizeIp("2001:0db8:0000:0000:0000:0000:0000:0001")).toBe("2001:db8::1");
    expect(normalizeIp("nope")).toBeNull();
    expect(sameClient("127.0.0.1", "::1")).toBe(true);
    expect(sameClient("::ffff:10.0.0.1", "10.0.0.1")).toBe(true);
    expect(sameClient("10.0.0.1", "10.0.0.2")).toBe(false);
  });
});

describe("evaluateIpRules", () => {
  it("allows everything when no rules apply", () => {
    expect(evaluateIpRules("203.0.113.9", [])).toMatchObject({ allowed: true, rule: null });
    expect(evaluateIpRules(null, [])).toMatchObject({ allowed: true });
  });

  it("refuses an unknown address once any rule applies", () => {
    expect(evaluateIpRules(null, [rule("10.0.0.0/8", "deny")])).toMatchObject({ allowed: false });
    expect(evaluateIpRules("not-an-ip", [rule("10.0.0.0/8", "deny")])).toMatchObject({ allowed: false });
  });

  it("deny rules refuse matching addresses only", () => {
    const rules = [rule("10.0.0.0/8", "deny")];
    expect(evaluateIpRules("10.2.3.4", rules)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("10.0.0.0/8"),
    });
    expect(evaluateIpRules("192.168.0.1", rules)).toMatchObject({ allowed: true });
  });

  it("an allow rule turns the scope into an allow list", () => {
    const rules = [rule("192.168.0.0/16", "allow")];
    expect(evaluateIpRules("192.168.4.4", rules)).toMatchObject({ allowed: true });
    expect(evaluateIpRules("8.8.8.8", rules)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("not on the allow list"),
    });
  });

  it("within a scope deny wins", () => {
    const rules = [rule("10.0.0.0/8", "allow", "user"), rule("10.1.0.0/16", "deny", "user")];
    expect(evaluateIpRules("10.1.2.3", rules)).toMatchObject({ allowed: false });
    expect(evaluateIpRules("10.2.2.3", rules)).toMatchObject({ allowed: true });
    const groups = [rule("10.0.0.0/8", "allow", "group", "eng"), rule("10.0.0.0/8", "deny", "group", "contractors")];
    expect(evaluateIpRules("10.9.9.9", groups)).toMatchObject({
      allowed: false,
      reason: expect.stringContaining("group contractors"),
    });
  });

  it("the most specific scope with a matching rule decides: user, then groups, then global", () => {
    const rules = [
      rule("0.0.0.0/0", "deny", "global"),
      rule("198.51.100.0/24", "allow", "group", "travel"),
      rule("198.51.100.7/32", "deny", "user"),
    ];
    // The user's own deny beats the group's allow.
    expect(evaluateIpRules("198.51.100.7", rules)).toMatchObject({ allowed: false, rule: { scope: "user" } });
    // The group's allow beats the global deny-all.
    expect(evaluateIpRules("198.51.100.8", rules)).toMatchObject({ allowed: true, rule: { scope: "group" } });
    // Nothing more specific matches: the global deny applies.
    expect(evaluateIpRules("203.0.113.1", rules)).toMatchObject({ allowed: false, rule: { scope: "global" } });
    // A user allow overrides a global deny.
    expect(
      evaluateIpRules("127.0.0.1", [rule("127.0.0.0/8", "deny"), rule("127.0.0.1", "allow", "user")]),
    ).toMatchObject({ allowed: true });
  });

  it("an allow list anywhere refuses addresses no rule matches", () => {
    const rules = [rule("10.0.0.0/8", "allow", "user"), rule("172.16.0.0/12", "deny", "global")];
    expect(evaluateIpRules("192.0.2.1", rules)).toMatchObject({ allowed: false });
    expect(evaluateIpRules("172.16.0.1", rules)).toMatchObject({ allowed: false, rule: { scope: "global" } });
  });

  it("handles IPv6 and IPv4-mapped clients", () => {
    const rules = [rule("2001:db8::/32", "deny"), rule("127.0.0.1/32", "deny", "user")];
    expect(evaluateIpRules("2001:db8::5", rules)).toMatchObject({ allowed: false });
    expect(evaluateIpRules("2001:db9::5", rules)).toMatchObject({ allowed: true });
    expect(evaluateIpRules("::ffff:127.0.0.1", rules)).toMatchObject({ allowed: false, rule: { scope: "user" } });
  });

  it("ignores rules whose CIDR does not parse (they cannot be stored, but never crash)", () => {
    expect(evaluateIpRules("10.0.0.1", [rule("garbage", "deny")])).toMatchObject({ allowed: true });
  });
});
