import { z } from "zod";

/**
 * Every failure that crosses a process boundary carries one of these codes. Each
 * boundary maps a code to its own status exactly once: `httpStatus` here, the tRPC
 * error formatter in apps/web, `exitCode` for the CLI.
 */
export const ERROR_CODES = [
  "BAD_REQUEST",
  "INVALID_NAME",
  "INVALID_PATH",
  "UNAUTHENTICATED",
  "FORBIDDEN",
  "TOKEN_EXPIRED",
  "NOT_FOUND",
  "ALREADY_EXISTS",
  "CONFLICT",
  "STALE_EPOCH",
  "HASH_MISMATCH",
  "TRUNCATED",
  "PAYLOAD_TOO_LARGE",
  "DISK_FULL",
  "QUOTA_EXCEEDED",
  "UNAVAILABLE",
  "RATE_LIMITED",
  "INTERNAL",
] as const;

export const ZErrorCode = z.enum(ERROR_CODES);
export type ErrorCode = z.infer<typeof ZErrorCode>;

export const ZErrorBody = z.object({
  error: z.object({
    code: ZErrorCode,
    message: z.string(),
    details: z.record(z.string(), z.unknown()).optional(),
  }),
});
export type ErrorBody = z.infer<typeof ZErrorBody>;

const HTTP_STATUS: Record<ErrorCode, number> = {
  BAD_REQUEST: 400,
  INVALID_NAME: 400,
  INVALID_PATH: 400,
  UNAUTHENTICATED: 401,
  TOKEN_EXPIRED: 401,
  FORBIDDEN: 403,
  NOT_FOUND: 404,
  ALREADY_EXISTS: 409,
  CONFLICT: 409,
  STALE_EPOCH: 409,
  HASH_MISMATCH: 422,
  TRUNCATED: 400,
  PAYLOAD_TOO_LARGE: 413,
  DISK_FULL: 507,
  // As WebDAV (RFC 4918) answers a write over the user's quota.
  QUOTA_EXCEEDED: 507,
  UNAVAILABLE: 503,
  RATE_LIMITED: 429,
  INTERNAL: 500,
};

const EXIT_CODE: Partial<Record<ErrorCode, number>> = {
  BAD_REQUEST: 2,
  INVALID_NAME: 2,
  INVALID_PATH: 2,
  UNAUTHENTICATED: 3,
  TOKEN_EXPIRED: 3,
  FORBIDDEN: 4,
  NOT_FOUND: 5,
  ALREADY_EXISTS: 6,
  CONFLICT: 6,
  UNAVAILABLE: 7,
};

export class AppError extends Error {
  readonly code: ErrorCode;
  readonly details: Record<string, unknown> | undefined;

  constructor(code: ErrorCode, message: string, details?: Record<string, unknown>) {
    super(message);
    this.name = "AppError";
    this.code = code;
    this.details = details;
  }

  get httpStatus(): number {
    return HTTP_STATUS[this.code];
  }

  get exitCode(): number {
    return EXIT_CODE[this.code] ?? 1;
  }

  toBody(): ErrorBody {
    return {
      error: {
        code: this.code,
        message: this.message,
        ...(this.details ? { details: this.details } : {}),
      },
    };
  }

  static fromBody(body: unknown, fallbackStatus?: number): AppError {
    const parsed = ZErrorBody.safeParse(body);
    if (parsed.success) {
      return new AppError(parsed.data.error.code, parsed.data.error.message, parsed.data.error.details);
    }
    return new AppError("INTERNAL", `unexpected error response${fallbackStatus ? ` (HTTP ${fallbackStatus})` : ""}`);
  }
}

export function httpStatusOf(code: ErrorCode): number {
  return HTTP_STATUS[code];
}

export function isAppError(err: unknown): err is AppError {
  return err instanceof AppError;
}
