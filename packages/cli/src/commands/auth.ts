import { AppError } from "@cumulus/protocol/errors";
import { configFile, saveConfig } from "../config.ts";
import { Interrupted, type CliIO, type Ctx, type GlobalOpts } from "../context.ts";

export interface LoginOpts extends GlobalOpts {
  email?: string;
  password?: string;
}

export async function login(ctx: Ctx, opts: LoginOpts): Promise<void> {
  const cfg = await ctx.config();
  const s = await ctx.session(opts);
  if (!s.server) throw new AppError("BAD_REQUEST", "login needs --server URL (or CUMULUS_SERVER)");
  const email = opts.email || ctx.io.env.CUMULUS_EMAIL || s.email;
  if (!email) throw new AppError("BAD_REQUEST", "login needs --email EMAIL");
  const password = opts.password ?? ctx.io.env.CUMULUS_PASSWORD ?? (await readPassword(ctx.io));
  if (!password)
    throw new AppError("BAD_REQUEST", "login needs a password (--password, CUMULUS_PASSWORD or typed at the prompt)");

  const client = ctx.anonymousClient(s.server, s.site);
  const out = await client.login({ email, password, deviceName: ctx.deviceName() });
  const sameServer = cfg.server === client.server;
  await saveConfig(ctx.configDir, {
    server: client.server,
    token: out.token,
    email: out.user.email,
    ...(opts.site ? { site: opts.site } : sameServer && cfg.site ? { site: cfg.site } : {}),
  });
  if (opts.json) {
    ctx.json({
      server: client.server,
      email: out.user.email,
      role: out.user.role,
      tokenId: out.tokenId,
      deviceName: ctx.deviceName(),
      configFile: configFile(ctx.configDir),
    });
  } else {
    ctx.out(
      `logged in to ${client.server} as ${out.user.email} (${out.user.role}); device token "${ctx.deviceName()}" saved in ${configFile(ctx.configDir)}`,
    );
  }
}

export async function logout(ctx: Ctx, opts: GlobalOpts): Promise<void> {
  const cfg = await ctx.config();
  const s = await ctx.session(opts);
  let revokeError: AppError | null = null;
  if (s.server && s.token) {
    try {
      await (await ctx.client(opts)).logout();
    } catch (err) {
      // An already revoked or expired token is as logged out as it gets.
      if (!(err instanceof AppError) || (err.code !== "UNAUTHENTICATED" && err.code !== "TOKEN_EXPIRED")) {
        revokeError = err instanceof AppError ? err : new AppError("INTERNAL", String(err));
      }
    }
  }
  // Only the stored token is forgotten; one given in CUMULUS_TOKEN is the caller's to drop.
  const hadStored = cfg.token !== undefined && s.token === cfg.token;
  if (hadStored) {
    const { token: _token, ...rest } = cfg;
    await saveConfig(ctx.configDir, rest);
  }
  if (revokeError) {
    throw new AppError(
      revokeError.code,
      `${hadStored ? "removed the stored token, but " : ""}could not revoke it on the server: ${revokeError.message}`,
    );
  }
  const was = s.token ? `logged out${s.server ? ` of ${s.server}` : ""}` : "not logged in";
  if (opts.json) ctx.json({ loggedOut: s.token !== null, server: s.server });
  else ctx.out(was);
}

export async function whoami(ctx: Ctx, opts: GlobalOpts): Promise<void> {
  const client = await ctx.client(opts);
  const me = await client.whoami();
  if (opts.json) ctx.json({ ...me, server: client.server });
  else ctx.out(`${me.email} (${me.role}) on ${client.server}; home ${me.home}`);
}

/** One line from stdin when piped, else a prompt on the terminal without echo. */
async function readPassword(io: CliIO): Promise<string> {
  const stdin = io.stdin;
  if (!stdin.isTTY || !stdin.setRawMode) {
    let data = "";
    for await (const chunk of stdin as AsyncIterable<Buffer | string>) {
      data += chunk.toString();
      if (data.includes("\n")) break;
    }
    return data.split(/\r?\n/)[0] ?? "";
  }
  io.stderr.write("Password: ");
  stdin.setRawMode(true);
  stdin.resume();
  try {
    return await new Promise<string>((resolve, reject) => {
      let pw = "";
      const onData = (buf: Buffer | string) => {
        for (const ch of buf.toString()) {
          if (ch === "\r" || ch === "\n" || ch === "\u0004") {
            stdin.off("data", onData);
            io.stderr.write("\n");
            return resolve(pw);
          }
          if (ch === "\u0003") {
            stdin.off("data", onData);
            io.stderr.write("\n");
            return reject(new Interrupted());
          }
          if (ch === "\u007f" || ch === "\b") pw = [...pw].slice(0, -1).join("");
          else pw += ch;
        }
      };
      stdin.on("data", onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}
