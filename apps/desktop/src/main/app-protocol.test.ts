import path from "node:path";
import { describe, expect, it } from "vitest";
import { forwardHeaders, routeAppRequest } from "./app-protocol.ts";

const dir = path.resolve("/opt/cumulus/out/renderer");
const agent = "http://127.0.0.1:4567";

describe("routeAppRequest", () => {
  it("serves the renderer's files, index.html for /", () => {
    expect(routeAppRequest("cumulus://app/", dir, agent)).toEqual({ kind: "file", file: path.join(dir, "index.html") });
    expect(routeAppRequest("cumulus://app/assets/index-1.js?v=2", dir, agent)).toEqual({
      kind: "file",
      file: path.join(dir, "assets", "index-1.js"),
    });
  });

  it("forwards the control API to the agent with its query", () => {
    expect(routeAppRequest("cumulus://app/api/tree?path=%2FDocs", dir, agent)).toEqual({
      kind: "api",
      target: "http://127.0.0.1:4567/api/tree?path=%2FDocs",
    });
    expect(routeAppRequest("cumulus://app/api/status", dir, null)).toEqual({ kind: "unavailable" });
  });

  it("never leaves the renderer directory or serves another host", () => {
    for (const bad of [
      "cumulus://app/../../etc/passwd",
      "cumulus://app/%2e%2e/%2e%2e/etc/passwd",
      "cumulus://app/..%2f..%2fetc%2fpasswd",
      "cumulus://app/%00",
      "cumulus://app/%E0%A4%A",
      "cumulus://other/index.html",
      "https://app/index.html",
      "not a url",
    ]) {
      const r = routeAppRequest(bad, dir, agent);
      if (r.kind === "file") expect(r.file.startsWith(dir + path.sep)).toBe(true);
      else expect(r.kind).toBe("not-found");
    }
    expect(routeAppRequest("cumulus://app/..%2f..%2fetc%2fpasswd", dir, agent)).toEqual({ kind: "not-found" });
  });
});

describe("forwardHeaders", () => {
  it("keeps what the API needs and drops the rest", () => {
    expect(
      forwardHeaders([
        ["Authorization", "Bearer x"],
        ["Content-Type", "application/json"],
        ["Cookie", "a=b"],
        ["Origin", "cumulus://app"],
      ]),
    ).toEqual({ authorization: "Bearer x", "content-type": "application/json" });
  });
});
