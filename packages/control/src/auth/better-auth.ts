import { randomBytes, randomUUID } from "node:crypto";
import { z } from "zod";
import { betterAuth } from "better-auth";
import { setSessionCookie } from "better-auth/cookies";
import { prismaAdapter } from "better-auth/adapters/prisma";
import { APIError, createAuthMiddleware, isAPIError } from "better-auth/api";
import type { ControlContext } from "../context.ts";
import { audit } from "../audit/audit.ts";
import { CLIENT_IP_HEADER, clientIpFromHeaders } from "../ip-rules/client-ip.ts";
import { normalizeIp } from "../ip-rules/cidr.ts";
import { lockoutMessage, noteFailureForLockout } from "../users/lockout.ts";
import { ipAllowed, lockedOut } from "./signin-checks.ts";
import { hashPassword, MIN_PASSWORD_LENGTH, verifyPassword } from "./passwords.ts";

/**
 * Browser sign-in with better-auth over the Prisma adapter (the User/Session/Account/
 * Verification tables follow its shape). Only three endpoints are served under
 * /api/auth: POST /sign-in/email, POST /sign-out and GET /get-session; sign-up is off
 * (administrators create accounts), and password change, sign-out everywhere and device
 * management are tRPC procedures (`session` router) over our own services.
 *
 * - Ids are UUIDs (User.id is a uuid column).
 * - Passwords: argon2id through auth/passwords.ts, the same hashes ensureAdmin and the
 *   device-token sign-in use.
 * - Cookies: HttpOnly, SameSite=Lax, `Secure` (and the `__Secure-` name prefix) when the
 *   request came over https — there is one instance per protocol, see `getAuth`.
 * - Sign-in refuses, before the password is checked: a locked-out e-mail (users/lockout)
 *   and an address the IP rules deny for that account; after: a disabled account (its
 *   session is never created). Every outcome is audited.
 * - better-auth's own in-memory rate limiter is off: the lock-out is persistent and
 *   shared by every control-plane process.
 */

export const AUTH_BASE_PATH = "/api/auth";
const NO_STORE = { "cache-control": "no-store" };

type HookContext = Parameters<Parameters<typeof createAuthMiddleware>[0]>[0];
export const COOKIE_PREFIX = "cumulus";
export const SESSION_TTL_S = 7 * 24 * 3600;

/** The only better-auth endpoints that answer; everything else is 404. */
const ALLOWED_PATHS = new Set(["/sign-in/email", "/sign-out", "/get-session", "/ok", "/error"]);

/** Messages the sign-in page shows as they are. */
export const SIGNIN_MESSAGES = {
  wrong: "Wrong email or password",
  disabled: "This account is disabled",
} as const;

function ipOf(headers: Headers | undefined | null): string | null {
  return headers ? clientIpFromHeaders(headers) : null;
}

/**
 * better-auth's sign-in validates e-mails with zod's strict z.email(), which refuses a
 * domain without a dot — and the first admin of a cluster in a box is admin@localhost.
 * Such addresses (anything@anything without spaces) are signed in by the `before` hook
 * itself, with the same steps as better-auth's endpoint (see signInLocalAddress).
 */
const LOOSE_EMAIL = /^[^\s@]+@[^\s@]+$/;

/** The origin the browser used, from the Host / X-Forwarded-* headers (for the CSRF origin check). */
function requestOrigins(request?: Request): string[] {
  if (!request) return [];
  const h = request.headers;
  const host = h.get("x-forwarded-host")?.split(",")[0]?.trim() || h.get("host");
  if (!host) return [];
  const proto = h.get("x-forwarded-proto")?.split(",")[0]?.trim() || new URL(request.url).protocol.replace(":", "");
  return [`${proto}://${host}`];
}

function createAuth(ctx: ControlContext, secret: string, secure: boolean) {
  const prisma = ctx.prisma;

  /** Audits a wrong password (or unknown e-mail); answers 429 if it completed a lock-out, else 401. */
  async function wrongPassword(email: string, ip: string | null): Promise<Response> {
    const user = await prisma.user.findUnique({ where: { email }, select: { id: true } });
    await audit(ctx, {
      action: "signin.failed",
      actor: email,
      actorId: user?.id ?? null,
      target: email,
      ip,
      outcome: "failed",
      details: { reason: user ? "wrong password" : "unknown email", via: "web" },
    });
    const state = await noteFailureForLockout(ctx, email, { ip, userId: user?.id ?? null });
    // A Response (not an APIError): its status is kept as is, whatever the endpoint said.
    return state.locked
      ? Response.json({ message: lockoutMessage(state), code: "LOCKED_OUT" }, { status: 429, headers: NO_STORE })
      : Response.json(
          { message: SIGNIN_MESSAGES.wrong, code: "INVALID_EMAIL_OR_PASSWORD" },
          { status: 401, headers: NO_STORE },
        );
  }

  async function auditSignin(user: { id: string; email: string }, ip: string | null, userAgent: string | null) {
    await audit(ctx, {
      action: "signin",
      actor: user.email,
      actorId: user.id,
      target: user.email,
      ip,
      details: { via: "web", userAgent },
    });
  }

  /** better-auth's email sign-in steps, for an address its validation refuses (see LOOSE_EMAIL). */
  async function signInLocalAddress(c: HookContext, email: string, ip: string | null): Promise<Response | unknown> {
    const body = (c.body ?? {}) as { password?: unknown; rememberMe?: unknown };
    const password = typeof body.password === "string" ? body.password : "";
    if (password.length === 0 || password.length > 1024) return wrongPassword(email, ip);
    const found = await c.context.internalAdapter.findUserByEmail(email, { includeAccounts: true });
    const account = found?.accounts.find((a) => a.providerId === "credential" && a.password);
    if (!found || !account?.password) {
      await hashPassword(password); // same time as a wrong password
      return wrongPassword(email, ip);
    }
    if (!(await verifyPassword(account.password, password))) return wrongPassword(email, ip);
    const dontRemember = body.rememberMe === false;
    const session = await c.context.internalAdapter.createSession(found.user.id, dontRemember);
    if (!session)
      throw new APIError("UNAUTHORIZED", { message: "Could not create a session", code: "FAILED_TO_CREATE_SESSION" });
    await setSessionCookie(c, { session, user: found.user }, dontRemember);
    await auditSignin(found.user, ip, c.headers?.get("user-agent") ?? null);
    return c.json({
      redirect: false,
      token: session.token,
      user: { id: found.user.id, email: found.user.email, name: found.user.name },
    });
  }

  return betterAuth({
    appName: "Cumulus",
    secret,
    basePath: AUTH_BASE_PATH,
    database: prismaAdapter(prisma, { provider: "postgresql" }),
    telemetry: { enabled: false },
    logger: { level: "error" },
    trustedOrigins: (request) => requestOrigins(request),
    emailAndPassword: {
      enabled: true,
      disableSignUp: true,
      autoSignIn: false,
      minPasswordLength: MIN_PASSWORD_LENGTH,
      maxPasswordLength: 1024,
      password: {
        hash: (password) => hashPassword(password),
        verify: ({ hash, password }) => verifyPassword(hash, password),
      },
    },
    user: {
      additionalFields: {
        role: { type: "string", input: false, required: false, defaultValue: "user" },
        disabled: { type: "boolean", input: false, required: false, defaultValue: false },
      },
    },
    session: { expiresIn: SESSION_TTL_S, updateAge: 24 * 3600 },
    rateLimit: { enabled: false },
    advanced: {
      cookiePrefix: COOKIE_PREFIX,
      useSecureCookies: secure,
      defaultCookieAttributes: { httpOnly: true, sameSite: "lax", secure, path: "/" },
      database: { generateId: () => randomUUID() },
      // The address apps/web's server resolved; X-Forwarded-For is the client's to forge.
      ipAddress: { ipAddressHeaders: [CLIENT_IP_HEADER] },
    },
    hooks: {
      before: createAuthMiddleware(async (c) => {
        if (!ALLOWED_PATHS.has(c.path)) throw new APIError("NOT_FOUND", { message: "Not found" });
        if (c.path === "/sign-out") {
          // Audited here: once the endpoint ran, the session is gone.
          const token = await c.getSignedCookie(c.context.authCookies.sessionToken.name, c.context.secret);
          const found = token ? await c.context.internalAdapter.findSession(token) : null;
          if (found) {
            await audit(ctx, {
              action: "signout",
              actor: found.user.email,
              actorId: found.user.id,
              target: found.user.email,
              ip: ipOf(c.headers),
            });
          }
          return;
        }
        if (c.path !== "/sign-in/email") return;
        const body = (c.body ?? {}) as { email?: unknown };
        const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
        const ip = ipOf(c.headers);
        if (!email) return; // better-auth answers the validation error
        const state = await lockedOut(ctx, email, ip, "web");
        if (state) {
          throw new APIError("TOO_MANY_REQUESTS", { message: lockoutMessage(state), code: "LOCKED_OUT" });
        }
        const user = await prisma.user.findUnique({ where: { email }, select: { id: true } });
        if (!(await ipAllowed(ctx, email, user?.id ?? null, ip, "web"))) {
          throw new APIError("FORBIDDEN", {
            message: `Sign-in from your address (${normalizeIp(ip) ?? ip ?? "unknown"}) is not allowed`,
            code: "IP_DENIED",
          });
        }
        if (!z.email().safeParse(email).success && LOOSE_EMAIL.test(email)) {
          return signInLocalAddress(c, email, ip);
        }
      }),
      after: createAuthMiddleware(async (c) => {
        const ip = ipOf(c.headers);
        if (c.path === "/sign-in/email") {
          const body = (c.body ?? {}) as { email?: unknown };
          const email = typeof body.email === "string" ? body.email.trim().toLowerCase() : "";
          const returned = c.context.returned;
          if (isAPIError(returned)) {
            const code = (returned.body as { code?: string } | undefined)?.code;
            if (code === "LOCKED_OUT" || code === "IP_DENIED" || code === "ACCOUNT_DISABLED") return;
            if (returned.statusCode === 401 && email) return wrongPassword(email, ip);
            return;
          }
          const session = c.context.newSession;
          if (session) await auditSignin(session.user, ip, c.headers?.get("user-agent") ?? null);
          return;
        }
      }),
    },
    databaseHooks: {
      session: {
        create: {
          before: async (session, c) => {
            const user = await prisma.user.findUnique({
              where: { id: session.userId },
              select: { id: true, email: true, disabled: true },
            });
            if (!user || user.disabled) {
              const ip = ipOf(c?.headers);
              await audit(ctx, {
                action: "signin.failed",
                actor: user?.email ?? null,
                actorId: user?.id ?? null,
                target: user?.email ?? null,
                ip,
                outcome: "denied",
                details: { reason: "disabled", via: "web" },
              });
              throw new APIError("FORBIDDEN", { message: SIGNIN_MESSAGES.disabled, code: "ACCOUNT_DISABLED" });
            }
            const ip = ipOf(c?.headers);
            return { data: { ...session, ipAddress: ip ?? session.ipAddress ?? null } };
          },
        },
      },
    },
  });
}

export type CumulusAuth = ReturnType<typeof createAuth>;

const SECRET_KEY = "authSecret";

async function loadSecret(ctx: ControlContext): Promise<string> {
  let row = await ctx.prisma.clusterSetting.findUnique({ where: { key: SECRET_KEY } });
  if (!row) {
    // Concurrent first uses race on the insert; everyone reads the winner's secret.
    await ctx.prisma.clusterSetting.createMany({
      data: [{ key: SECRET_KEY, value: randomBytes(32).toString("base64url") }],
      skipDuplicates: true,
    });
    row = await ctx.prisma.clusterSetting.findUniqueOrThrow({ where: { key: SECRET_KEY } });
  }
  if (typeof row.value !== "string" || row.value.length < 32)
    throw new Error(`cluster setting ${SECRET_KEY} is malformed`);
  return row.value;
}

const instances = new WeakMap<object, Map<boolean, Promise<CumulusAuth>>>();

/**
 * The better-auth instance for this database and protocol. The secret that signs
 * session cookies is kept in ClusterSetting (created on first use), so every
 * control-plane instance accepts every other's cookies; there is no env variable to set.
 */
export function getAuth(ctx: ControlContext, opts: { secure: boolean }): Promise<CumulusAuth> {
  let byProto = instances.get(ctx.prisma);
  if (!byProto) {
    byProto = new Map();
    instances.set(ctx.prisma, byProto);
  }
  let p = byProto.get(opts.secure);
  if (!p) {
    const map = byProto;
    p = loadSecret(ctx).then(
      (secret) => createAuth(ctx, secret, opts.secure),
      (err: unknown) => {
        map.delete(opts.secure);
        throw err;
      },
    );
    byProto.set(opts.secure, p);
  }
  return p;
}

/** Whether the request came over https (directly or through a proxy that says so). */
export function isSecureRequest(headers: { get(name: string): string | null }, url?: string): boolean {
  const proto = headers.get("x-forwarded-proto")?.split(",")[0]?.trim().toLowerCase();
  if (proto) return proto === "https";
  return url ? url.startsWith("https:") : false;
}

export type SessionUser = {
  sessionId: string;
  user: { id: string; email: string; name: string; role: "admin" | "user"; disabled: boolean };
};

/** The session behind the request's cookie, or null (no cookie, unknown, expired). */
export async function sessionFromHeaders(
  ctx: ControlContext,
  headers: Headers,
  url?: string,
): Promise<SessionUser | null> {
  const cookie = headers.get("cookie");
  if (!cookie || !cookie.includes(`${COOKIE_PREFIX}.session_token`)) return null;
  const auth = await getAuth(ctx, { secure: isSecureRequest(headers, url) });
  const s = await auth.api.getSession({ headers, query: { disableCookieCache: true } });
  if (!s) return null;
  const u = s.user as typeof s.user & { role?: string; disabled?: boolean };
  return {
    sessionId: s.session.id,
    user: {
      id: u.id,
      email: u.email,
      name: u.name,
      role: u.role === "admin" ? "admin" : "user",
      disabled: u.disabled === true,
    },
  };
}
