import { describe, expect, it } from "vitest";
import { errorMessageOf, shorten } from "./child-error-line.ts";

describe("errorMessageOf", () => {
  it("takes the message of a pino fatal or error line, with the error's own message", () => {
    const fatal = JSON.stringify({
      level: 60,
      msg: "storage node failed to start",
      err: { type: "Error", message: "listen EADDRINUSE: address already in use 127.0.0.1:7101" },
    });
    expect(errorMessageOf(fatal, "stdout")).toBe(
      "storage node failed to start: listen EADDRINUSE: address already in use 127.0.0.1:7101",
    );
    const already = JSON.stringify({ level: 60, msg: "failed to start: disk full", err: { message: "disk full" } });
    expect(errorMessageOf(already, "stdout")).toBe("failed to start: disk full");
    expect(errorMessageOf(JSON.stringify({ level: 50, msg: "UDT listener failed" }), "stdout")).toBe(
      "UDT listener failed",
    );
  });

  it("ignores info and warn lines, blank lines and non-JSON stdout", () => {
    expect(errorMessageOf(JSON.stringify({ level: 30, msg: "storage node ready" }), "stdout")).toBeNull();
    expect(errorMessageOf(JSON.stringify({ level: 40, msg: "slow disk" }), "stdout")).toBeNull();
    expect(errorMessageOf("   ", "stderr")).toBeNull();
    expect(errorMessageOf("compiled in 3 s", "stdout")).toBeNull();
  });

  it("keeps any stderr line, JSON or not (a config error is printed there before the logger exists)", () => {
    expect(errorMessageOf("CUMULUS_NODE_PORT must be a number", "stderr")).toBe("CUMULUS_NODE_PORT must be a number");
    expect(errorMessageOf("{not json", "stderr")).toBe("{not json");
  });
});

describe("shorten", () => {
  it("folds whitespace and cuts long messages to one line", () => {
    expect(shorten("a\n  b")).toBe("a b");
    const cut = shorten("x".repeat(500), 20);
    expect(cut).toHaveLength(20);
    expect(cut.endsWith("…")).toBe(true);
  });
});
