import { describe, expect, it } from "vitest";
import { isAtOwnHost } from "./own-host.ts";

describe("isAtOwnHost", () => {
  it("matches the URL's host, case-insensitively and with IPv6 brackets removed", () => {
    expect(isAtOwnHost("http://127.0.0.1:4001", "127.0.0.1")).toBe(true);
    expect(isAtOwnHost("http://Node-A.example:80/x", "node-a.example")).toBe(true);
    expect(isAtOwnHost("http://[::1]:4001", "::1")).toBe(true);
  });

  it("is false for another host, a malformed URL, or when this node's host is unknown", () => {
    expect(isAtOwnHost("http://127.0.0.2:4001", "127.0.0.1")).toBe(false);
    expect(isAtOwnHost("not a url", "127.0.0.1")).toBe(false);
    expect(isAtOwnHost("http://127.0.0.1:4001", null)).toBe(false);
  });
});
