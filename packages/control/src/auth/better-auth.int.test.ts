import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createTestDatabase, type TestDatabase } from "@cumulus/db/testing/database";
import type { ControlContext } from "../context.ts";
import { createUser, testContext } from "../fs/test-fixtures.ts";
import { authenticate } from "./authenticate.ts";
import { getAuth } from "./better-auth.ts";
import { CLIENT_IP_HEADER } from "../ip-rules/client-ip.ts";

let db: TestDatabase;
let ctx: ControlContext;
const PASSWORD = "correct horse battery";
const ORIGIN = "http://cumulus.test:3000";

beforeAll(async () => {
  db = await createTestDatabase();
  ctx = testContext(db.prisma);
  await createUser(ctx, "alice@corp.test", { password: PASSWORD });
  await createUser(ctx, "gone@corp.test", { password: PASSWORD, disabled: true });
  await createUser(ctx, "locked@corp.test", { password: PASSWORD });
  await createUser(ctx, "far@corp.test", { password: PASSWORD });
  await createUser(ctx, "admin@localhost", { password: PASSWORD, role: "admin" });
});
afterAll(async () => {
  await db?.drop();
});

async function signIn(email: string, password: string, ip = "10.0.0.1", proto = "http") {
  const auth = await getAuth(ctx, { secure: proto === "https" });
  const res = await auth.handler(
    new Request(`${ORIGIN}/api/auth/sign-in/email`, {
      method: "POST",
      headers: {
        "content-type": "application/json",
        origin: proto === "https" ? "https://cumulus.test:3000" : ORIGIN,
        host: "cumulus.test:3000",
        // As apps/web's server stamps it on every request.
        [CLIENT_IP_HEADER]: ip,
        "x-forwarded-proto": proto,
      },
      body: JSON.stringify({ email, password }),
    }),
  );
  const body = (await res.json().catch(() => null)) as { message?: string; code?: string } | null;
  return { status: res.status, body, cookie: res.headers.get("set-cookie") };
}

describe("browser sign-in (better-auth)", () => {
  it("signs in with the argon2id password, sets an HttpOnly SameSite=Lax cookie, and the session authenticates", async () => {
    const r = await signIn("Alice@corp.test", PASSWORD);
    expect(r.status).toBe(200);
    expect(r.cookie).toMatch(/^cumulus\.session_token=/);
    expect(r.cookie).toMatch(/HttpOnly/i);
    expect(r.cookie).toMatch(/SameSite=Lax/i);
    expect(r.cookie).not.toMatch(/Secure/i);
    const session = await ctx.prisma.session.findFirstOrThrow({ where: { user: { email: "alice@corp.test" } } });
    expect(session.id).toMatch(/^[0-9a-f-]{36}$/);
    expect(session.ipAddress).toBe("10.0.0.1");

    const cookie = r.cookie!.split(";")[0]!;
    const user = await authenticate(ctx, new Headers({ cookie }), { ip: "10.0.0.1" });
    expect(user).toMatchObject({ email: "alice@corp.test", role: "user", tokenId: null, sessionId: session.id });
    const events = await ctx.prisma.auditEvent.findMany({ where: { action: "signin", target: "alice@corp.test" } });
    expect(events).toHaveLength(1);

    // A disabled account's existing sessions stop working.
    await ctx.prisma.user.update({ where: { email: "alice@corp.test" }, data: { disabled: true } });
    await expect(authenticate(ctx, new Headers({ cookie }), { ip: "10.0.0.1" })).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
    await ctx.prisma.user.update({ where: { email: "alice@corp.test" }, data: { disabled: false } });
    // A deleted session (sign out everywhere) too.
    await ctx.prisma.session.deleteMany({ where: { userId: session.userId } });
    await expect(authenticate(ctx, new Headers({ cookie }), { ip: "10.0.0.1" })).rejects.toMatchObject({
      code: "UNAUTHENTICATED",
    });
  });

  it("signs in an address without a dot in its domain (the box's admin@localhost), with the same refusals", async () => {
    const wrong = await signIn("admin@localhost", "not the password");
    expect(wrong).toMatchObject({ status: 401, body: { message: "Wrong email or password" } });
    const unknown = await signIn("nobody@localhost", PASSWORD);
    expect(unknown.status).toBe(401);
    const r = await signIn("Admin@Localhost", PASSWORD);
    expect(r.status).toBe(200);
    expect(r.cookie).toMatch(/^cumulus\.session_token=.*HttpOnly/i);
    const user = await authenticate(ctx, new Headers({ cookie: r.cookie!.split(";")[0]! }), { ip: "10.0.0.1" });
    expect(user).toMatchObject({ email: "admin@localhost", role: "admin" });
    expect(await ctx.prisma.auditEvent.count({ where: { action: "signin", target: "admin@localhost" } })).toBe(1);
    expect(await ctx.prisma.auditEvent.count({ where: { action: "signin.failed", target: "admin@localhost" } })).toBe(
      1,
    );
  });

  it("marks the cookie Secure over https", async () => {
    const r = await signIn("alice@corp.test", PASSWORD, "10.0.0.1", "https");
    expect(r.status).toBe(200);
    expect(r.cookie).toMatch(/^__Secure-cumulus\.session_token=/);
    expect(r.cookie).toMatch(/Secure/);
  });

  it("answers a wrong password and an unknown e-mail alike, audited", async () => {
    const a = await signIn("alice@corp.test", "nope-nope-nope");
    const b = await signIn("nobody@corp.test", "nope-nope-nope");
    for (const r of [a, b]) {
      expect(r.status).toBe(401);
      expect(r.body?.message).toBe("Wrong email or password");
      expect(r.cookie ?? "").not.toContain("session_token=");
    }
    const failed = await ctx.prisma.auditEvent.findMany({
      where: { action: "signin.failed", outcome: "failed", target: { endsWith: "@corp.test" } },
    });
    expect(failed.map((e) => e.target).sort()).toEqual(["alice@corp.test", "nobody@corp.test"]);
  });

  it("refuses a disabled account with the right password, without creating a session", async () => {
    const r = await signIn("gone@corp.test", PASSWORD);
    expect(r.status).toBe(403);
    expect(r.body?.message).toBe("This account is disabled");
    expect(await ctx.prisma.session.count({ where: { user: { email: "gone@corp.test" } } })).toBe(0);
  });

  it("locks an e-mail out after 5 failures, even for the right password, and says for how long", async () => {
    for (let i = 0; i < 4; i++) expect((await signIn("locked@corp.test", `wrong-${i}-password`)).status).toBe(401);
    const fifth = await signIn("locked@corp.test", "wrong-4-password");
    expect(fifth.status).toBe(429);
    expect(fifth.body?.message).toMatch(/^Too many attempts: try again in 1[45] minutes$/);
    const right = await signIn("locked@corp.test", PASSWORD, "10.7.7.7");
    expect(right.status).toBe(429);
    expect(right.body?.message).toMatch(/^Too many attempts: try again in \d+ minutes?$/);
    expect(await ctx.prisma.session.count({ where: { user: { email: "locked@corp.test" } } })).toBe(0);
    expect(await ctx.prisma.auditEvent.count({ where: { action: "signin.locked", target: "locked@corp.test" } })).toBe(
      1,
    );
  });

  it("refuses sign-in from an address the IP rules deny for that user, audited", async () => {
    const far = await ctx.prisma.user.findUniqueOrThrow({ where: { email: "far@corp.test" } });
    await ctx.prisma.ipRule.create({ data: { cidr: "10.66.0.0/16", action: "deny", userId: far.id } });
    const r = await signIn("far@corp.test", PASSWORD, "10.66.1.2");
    expect(r.status).toBe(403);
    expect(r.body?.message).toBe("Sign-in from your address (10.66.1.2) is not allowed");
    expect((await signIn("far@corp.test", PASSWORD, "10.67.1.2")).status).toBe(200);
    const denied = await ctx.prisma.auditEvent.findFirst({
      where: { action: "signin.failed", target: "far@corp.test", outcome: "denied" },
    });
    expect(denied?.ip).toBe("10.66.1.2");
  });

  it("serves only sign-in, sign-out and get-session: sign-up and the rest are off", async () => {
    const auth = await getAuth(ctx, { secure: false });
    const res = await auth.handler(
      new Request(`${ORIGIN}/api/auth/sign-up/email`, {
        method: "POST",
        headers: { "content-type": "application/json", origin: ORIGIN },
        body: JSON.stringify({ email: "new@corp.test", password: PASSWORD, name: "New" }),
      }),
    );
    expect(res.status).toBeGreaterThanOrEqual(400);
    expect(await ctx.prisma.user.count({ where: { email: "new@corp.test" } })).toBe(0);
  });
});
