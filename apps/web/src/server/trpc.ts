import { initTRPC, TRPCError } from "@trpc/server";
import type { TRPC_ERROR_CODE_KEY } from "@trpc/server/rpc";
import { ZodError } from "zod";
import { AppError, type ErrorCode } from "@cumulus/protocol/errors";
import type { AuthUser } from "@cumulus/control/access/access";
import type { ControlContext } from "@cumulus/control/context";
import { ctx } from "./context.ts";
import { decideIp, ipDeniedError } from "@cumulus/control/ip-rules/ip-rules";
import { clientIp, requireUser } from "./auth.ts";

export type TrpcContext = {
  control: ControlContext;
  user: AuthUser | null;
  /** Why the request's credentials were refused (expired session, denied address…), if they were. */
  authError: AppError | null;
  ip: string | null;
  headers: Headers;
};

export async function createTrpcContext(req: Request): Promise<TrpcContext> {
  const base = { control: ctx(), ip: clientIp(req), headers: req.headers };
  if (!req.headers.get("authorization") && !req.headers.get("cookie")) return { ...base, user: null, authError: null };
  try {
    return { ...base, user: await requireUser(req), authError: null };
  } catch (err) {
    if (err instanceof AppError) return { ...base, user: null, authError: err };
    throw err;
  }
}

// The one mapping from our error codes to tRPC's.
const TRPC_CODE: Record<ErrorCode, TRPC_ERROR_CODE_KEY> = {
  BAD_REQUEST: "BAD_REQUEST",
  INVALID_NAME: "BAD_REQUEST",
  INVALID_PATH: "BAD_REQUEST",
  UNAUTHENTICATED: "UNAUTHORIZED",
  TOKEN_EXPIRED: "UNAUTHORIZED",
  FORBIDDEN: "FORBIDDEN",
  NOT_FOUND: "NOT_FOUND",
  ALREADY_EXISTS: "CONFLICT",
  CONFLICT: "CONFLICT",
  STALE_EPOCH: "CONFLICT",
  HASH_MISMATCH: "UNPROCESSABLE_CONTENT",
  TRUNCATED: "BAD_REQUEST",
  PAYLOAD_TOO_LARGE: "PAYLOAD_TOO_LARGE",
  DISK_FULL: "INTERNAL_SERVER_ERROR",
  QUOTA_EXCEEDED: "FORBIDDEN",
  UNAVAILABLE: "SERVICE_UNAVAILABLE",
  RATE_LIMITED: "TOO_MANY_REQUESTS",
  INTERNAL: "INTERNAL_SERVER_ERROR",
};

const t = initTRPC.context<TrpcContext>().create({
  errorFormatter({ shape, error }) {
    const cause = error.cause;
    const appCode = cause instanceof AppError ? cause.code : null;
    return { ...shape, data: { ...shape.data, appCode, stack: undefined } };
  },
});

/** Domain errors keep their message and code; anything else is logged and hidden. */
const mapErrors = t.middleware(async ({ next, path, ctx: c }) => {
  const result = await next();
  if (!result.ok) {
    const err = result.error;
    const cause = err.cause;
    if (cause instanceof AppError) {
      throw new TRPCError({ code: TRPC_CODE[cause.code], message: cause.message, cause });
    }
    if (cause instanceof ZodError || err.code !== "INTERNAL_SERVER_ERROR") return result;
    c.control.log.error({ err: cause ?? err, path }, "unhandled tRPC error");
    throw new TRPCError({ code: "INTERNAL_SERVER_ERROR", message: "internal error: see the control plane's log" });
  }
  return result;
});

/**
 * The IP access rules hold for every procedure: signed-in callers were checked with
 * their own rules when authenticated; anonymous ones are checked against the global rules.
 */
const ipRules = t.middleware(async ({ ctx: c, next }) => {
  if (c.authError?.code === "FORBIDDEN") throw c.authError;
  if (!c.user) {
    const d = await decideIp(c.control.prisma, null, c.ip);
    if (!d.allowed) throw ipDeniedError(c.ip);
  }
  return next();
});

export const router = t.router;
export const createCallerFactory = t.createCallerFactory;
export const publicProcedure = t.procedure.use(mapErrors).use(ipRules);

export const protectedProcedure = publicProcedure.use(({ ctx: c, next }) => {
  if (!c.user) {
    if (c.authError) throw c.authError;
    throw new TRPCError({ code: "UNAUTHORIZED", message: "sign in first" });
  }
  return next({ ctx: { ...c, user: c.user } });
});

export const adminProcedure = protectedProcedure.use(({ ctx: c, next }) => {
  if (c.user.role !== "admin") throw new TRPCError({ code: "FORBIDDEN", message: "only admins can do this" });
  return next();
});
