import { describe, expect, it } from "vitest";
import { CLIENT_IP_HEADER, clientIpFromHeaders, parseTrustedProxies, resolveClientIp } from "./client-ip.ts";

describe("resolveClientIp", () => {
  const none = parseTrustedProxies(undefined);
  const lb = parseTrustedProxies("10.0.0.0/8, 192.0.2.1 ::1");

  it("ignores X-Forwarded-For when no proxy is trusted (the default): the socket peer is the client", () => {
    expect(none).toEqual([]);
    expect(resolveClientIp("203.0.113.5", "127.0.0.1", none)).toBe("203.0.113.5");
    expect(resolveClientIp("::ffff:127.0.0.1", "10.1.2.3, 198.51.100.1", none)).toBe("127.0.0.1");
  });

  it("ignores the header from a peer that is not a trusted proxy even when proxies are configured", () => {
    expect(resolveClientIp("198.51.100.7", "10.0.0.1", lb)).toBe("198.51.100.7");
  });

  it("reads the chain from the right behind trusted proxies, so a forged left-most hop does not win", () => {
    // The client sent "X-Forwarded-For: 10.9.9.9"; the load balancer appended the real peer.
    expect(resolveClientIp("10.0.0.2", "10.9.9.9, 203.0.113.5", lb)).toBe("203.0.113.5");
    // Two trusted hops (an outer proxy at 192.0.2.1 in front of the LB).
    expect(resolveClientIp("10.0.0.2", "203.0.113.5, 192.0.2.1", lb)).toBe("203.0.113.5");
    expect(resolveClientIp("::1", "2001:db8::7", lb)).toBe("2001:db8::7");
  });

  it("stops at an unparsable hop and keeps the last address it could trust to be real", () => {
    expect(resolveClientIp("10.0.0.2", "203.0.113.5, garbage", lb)).toBe("10.0.0.2");
    expect(resolveClientIp("10.0.0.2", ["198.51.100.1", "203.0.113.5"], lb)).toBe("203.0.113.5");
    expect(resolveClientIp("10.0.0.2", "", lb)).toBe("10.0.0.2");
    expect(resolveClientIp("10.0.0.2", undefined, lb)).toBe("10.0.0.2");
    // All hops trusted: the left-most is as far as anyone can tell.
    expect(resolveClientIp("10.0.0.2", "10.0.0.3", lb)).toBe("10.0.0.3");
  });

  it("knows no address without a peer", () => {
    expect(resolveClientIp(undefined, "203.0.113.5", lb)).toBeNull();
  });

  it("refuses a bad CUMULUS_TRUSTED_PROXIES with a message naming the entry", () => {
    expect(() => parseTrustedProxies("10.0.0.0/8,proxy.corp")).toThrow(/CUMULUS_TRUSTED_PROXIES: .*"proxy\.corp"/);
    expect(() => parseTrustedProxies("10.0.0.0/33")).toThrow(/prefix length/);
  });
});

describe("clientIpFromHeaders", () => {
  it("reads only the header apps/web's server sets, never X-Forwarded-For or X-Real-IP", () => {
    const h = (init: Record<string, string>) => new Headers(init);
    expect(clientIpFromHeaders(h({ [CLIENT_IP_HEADER]: "::ffff:192.0.2.9" }))).toBe("192.0.2.9");
    expect(clientIpFromHeaders(h({ "x-forwarded-for": "192.0.2.9", "x-real-ip": "192.0.2.9" }))).toBeNull();
    expect(clientIpFromHeaders(h({ [CLIENT_IP_HEADER]: "not an address" }))).toBeNull();
  });
});
