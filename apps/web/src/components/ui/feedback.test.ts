import { createElement } from "react";
import { renderToStaticMarkup } from "react-dom/server";
import { describe, expect, it } from "vitest";
import { QueryState } from "./feedback.tsx";

type Q = { isPending: boolean; error: unknown; data: string[] | undefined; refetch: () => unknown };
const query = (over: Partial<Q>): Q => ({ isPending: false, error: null, data: undefined, refetch: () => {}, ...over });

function render(q: Q): string {
  return renderToStaticMarkup(
    createElement(QueryState<string[]>, {
      query: q,
      isEmpty: (d) => d.length === 0,
      empty: "EMPTY",
      children: (d) => `DATA:${d.join(",")}`,
    }),
  );
}

describe("QueryState", () => {
  it("shows loading, then the error with a retry, the empty face, or the data", () => {
    expect(render(query({ isPending: true }))).toContain("Loading…");
    const failed = render(query({ error: new Error("the server said no") }));
    expect(failed).toContain('role="alert"');
    expect(failed).toContain("the server said no");
    expect(failed).toContain("Try again");
    expect(render(query({ data: [] }))).toBe("EMPTY");
    expect(render(query({ data: ["a", "b"] }))).toBe("DATA:a,b");
  });

  it("never hands undefined data to its children: a settled query without data is an error", () => {
    expect(render(query({}))).toContain('role="alert"');
  });
});
