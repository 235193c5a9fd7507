import { Command, CommanderError, InvalidArgumentError, Option } from "commander";
import { AppError } from "@cumulus/protocol/errors";
import pkg from "../package.json" with { type: "json" };
import { login, logout, whoami, type LoginOpts } from "./commands/auth.ts";
import { policyGet, policySet, sysinfo, type PolicySetOpts } from "./commands/cluster.ts";
import * as fs from "./commands/fs.ts";
import { get, put, type TransferOpts } from "./commands/transfer.ts";
import { registerNodeCommands } from "./commands/node.ts";
import { sync, type SyncOpts } from "./commands/sync.ts";
import { Ctx, Interrupted, type CliIO, type GlobalOpts } from "./context.ts";

function positiveInt(name: string, max = Number.MAX_SAFE_INTEGER) {
  return (v: string): number => {
    if (!/^\d+$/.test(v) || Number(v) < 1 || Number(v) > max)
      throw new InvalidArgumentError(`${name} must be a whole number from 1 to ${max}`);
    return Number(v);
  };
}

function list(v: string, prev: string[] | undefined): string[] {
  const items = v
    .split(",")
    .map((s) => s.trim())
    .filter(Boolean);
  return [...(prev ?? []), ...items];
}

/**
 * Runs one `cumulus` invocation and returns its exit code. Errors end as one line on
 * stderr (`cumulus: <message>`) and the exit code of their AppError code (usage: 2).
 */
export async function run(argv: string[], io: CliIO): Promise<number> {
  const ctx = new Ctx(io);
  const program = buildProgram(ctx);
  try {
    await program.parseAsync(argv, { from: "user" });
    return 0;
  } catch (err) {
    return report(err, io);
  }
}

export function report(err: unknown, io: CliIO): number {
  let code: number;
  let message: string;
  if (err instanceof CommanderError) {
    if (err.code === "commander.helpDisplayed" || err.code === "commander.version") return 0;
    if (err.code === "commander.help") return 2;
    message = err.message
      .replace(/^error: /, "")
      .split("\n")
      .map((s) => s.trim())
      .filter(Boolean)
      .join(" ");
    code = 2;
  } else if (err instanceof Interrupted) {
    message = err.message;
    code = 130;
  } else if (err instanceof AppError) {
    message = err.message;
    code = err.exitCode;
  } else {
    message = `internal error: ${err instanceof Error ? err.message : String(err)}`;
    code = 1;
  }
  io.stderr.write(`cumulus: ${message.replace(/\s*\n\s*/g, " ").trim()}\n`);
  if (io.env.CUMULUS_DEBUG === "1" && err instanceof Error && err.stack) io.stderr.write(err.stack + "\n");
  return code;
}

export function buildProgram(ctx: Ctx): Command {
  const io = ctx.io;
  const program = new Command("cumulus");
  program
    .description("Cumulus command-line client: files in, files out, and a look at the cluster.")
    .version(pkg.version, "-V, --version")
    .option("--server <url>", "control-plane URL (default: CUMULUS_SERVER, then the one you logged in to)")
    .option("--site <site>", "the site you are in, so reads prefer nearby replicas (default: CUMULUS_SITE)")
    .option(
      "--transport <mode>",
      "chunk transport to storage nodes: udt, http or auto = UDT to other sites (default: CUMULUS_TRANSPORT, then http)",
    )
    // Program options only before the command name: `--version` after it is the
    // command's own (get/stat/restore --version N). Each command repeats --server/--site.
    .enablePositionalOptions()
    .exitOverride()
    .showSuggestionAfterError(true)
    .configureOutput({
      writeOut: (s) => void io.stdout.write(s),
      writeErr: (s) => void io.stderr.write(s),
      // Errors are printed once, by `report`.
      outputError: () => undefined,
    })
    .addHelpText(
      "after",
      `
Credentials: ${"`cumulus login`"} stores the server and a device token in $CUMULUS_CONFIG_DIR/config.json
(default ~/.config/cumulus); CUMULUS_SERVER and CUMULUS_TOKEN override it.
Remote paths are absolute (/a/b) or relative to your home folder. Every command takes --json.`,
    );

  const common = (c: Command): Command =>
    c
      .option("--json", "print one JSON document instead of text")
      .option("--server <url>", "control-plane URL")
      .option("--site <site>", "the site you are in")
      .option("--transport <mode>", "chunk transport to storage nodes: udt, http or auto");
  const cmd = (name: string, description: string): Command => common(program.command(name).description(description));
  const opts = <T extends GlobalOpts>(c: Command): T => c.optsWithGlobals() as T;

  cmd("login", "log in and store a device token named after this host")
    .option("--email <email>", "your e-mail address")
    .option("--password <password>", "your password (default: CUMULUS_PASSWORD, stdin, or a prompt)")
    .action((_o, c: Command) => login(ctx, opts<LoginOpts>(c)));
  cmd("logout", "revoke the stored device token and forget it").action((_o, c: Command) => logout(ctx, opts(c)));
  cmd("whoami", "show who you are logged in as").action((_o, c: Command) => whoami(ctx, opts(c)));

  cmd("ls", "list a folder (default: your home folder)")
    .argument("[path]", "remote folder or file")
    .option("-l, --long", "type, size, version and modification time")
    .action((p: string | undefined, _o, c: Command) => fs.ls(ctx, p, opts(c)));
  cmd("mkdir", "create a folder")
    .argument("<path>", "remote folder")
    .option("-p, --parents", "create missing parent folders; no error if it exists")
    .action((p: string, _o, c: Command) => fs.mkdir(ctx, p, opts(c)));
  cmd("put", "upload files and folders (recursive); an existing file gets a new version")
    .argument("<paths...>", "LOCAL... REMOTE")
    .addOption(new Option("--concurrency <n>", "chunks in flight per file").argParser(positiveInt("--concurrency", 64)))
    .action((paths: string[], _o, c: Command) => put(ctx, paths, opts<TransferOpts>(c)));
  cmd("sync", "keep a local folder and a server folder in sync (runs in the foreground; Ctrl-C stops)")
    .argument(
      "[local]",
      "local folder (with --status: the folder of the agent to ask; default: .; none with --state-dir: chosen in the UI)",
    )
    .option("--remote <path>", "server folder to sync with (default: your home folder)")
    .option("--state-dir <dir>", "where the agent keeps its database and agent.json (default: LOCAL/.cumulus)")
    .option(
      "--device <name>",
      "device name for conflicted copies and versions (default: CUMULUS_DEVICE_NAME, then the host name)",
    )
    .addOption(
      new Option("--port <n>", "port of the local control API on 127.0.0.1 (default: any free one)").argParser(
        positiveInt("--port", 65535),
      ),
    )
    .option("--ui-dir <dir>", "serve this built UI on the control API port (default: the desktop app's, if built)")
    .option("--once", "sync until nothing is left to do, then exit")
    .option("--status", "show what the running agent for the folder is doing")
    .action((l: string | undefined, _o, c: Command) => sync(ctx, l, opts<SyncOpts>(c)));
  cmd("get", "download a file or a folder (recursive)")
    .argument("<remote>", "remote file or folder")
    .argument("<local>", "local destination")
    .addOption(new Option("--version <n>", "a past version of the file").argParser(positiveInt("--version")))
    .addOption(new Option("--concurrency <n>", "chunks in flight per file").argParser(positiveInt("--concurrency", 64)))
    .action((r: string, l: string, _o, c: Command) => get(ctx, r, l, opts<TransferOpts & { version?: number }>(c)));
  cmd("rm", "move a file or folder to the trash")
    .argument("<path>", "remote path")
    .option("-r, --recursive", "also a folder that is not empty")
    .action((p: string, _o, c: Command) => fs.rm(ctx, p, opts(c)));
  cmd("mv", "rename or move; onto an existing folder moves into it")
    .argument("<src>", "remote path")
    .argument("<dst>", "remote path or folder")
    .action((s: string, d: string, _o, c: Command) => fs.mv(ctx, s, d, opts(c)));
  cmd("stat", "size, versions, policy, chunks and where every chunk's replicas are")
    .argument("<path>", "remote path")
    .addOption(new Option("--version <n>", "a past version").argParser(positiveInt("--version")))
    .action((p: string, _o, c: Command) => fs.stat(ctx, p, opts(c)));
  cmd("versions", "list the versions of a file")
    .argument("<path>", "remote file")
    .action((p: string, _o, c: Command) => fs.versions(ctx, p, opts(c)));
  cmd("restore", "make a past version the current content (as a new version)")
    .argument("<path>", "remote file")
    .addOption(
      new Option("--version <n>", "the version to restore").argParser(positiveInt("--version")).makeOptionMandatory(),
    )
    .action((p: string, _o, c: Command) => fs.restore(ctx, p, opts<GlobalOpts & { version: number }>(c)));

  const trash = cmd("trash", "list the trash").action((_o, c: Command) => fs.trashList(ctx, opts(c)));
  common(trash.command("restore"))
    .description("put an item from the trash back where it was")
    .argument("<id>", "trash item id (from cumulus trash)")
    .action((id: string, _o, c: Command) => fs.trashRestore(ctx, id, opts(c)));

  cmd("sysinfo", "sites, storage nodes, capacity and replication health").action((_o, c: Command) =>
    sysinfo(ctx, opts(c)),
  );

  const policy = program.command("policy").description("replication policy of a folder or file");
  common(policy.command("get"))
    .description("show the effective policy and where it comes from")
    .argument("<path>", "remote path")
    .action((p: string, _o, c: Command) => policyGet(ctx, p, opts(c)));
  common(policy.command("set"))
    .description("set the policy; applies to data written from now on")
    .argument("<path>", "remote path")
    .addOption(new Option("--replicas <n>", "number of replicas").argParser(positiveInt("--replicas", 16)))
    .option("--inherit", "clear the replica count set here (inherit it)")
    .option("--sites <sites>", "sites that must each hold a replica (comma-separated)", list)
    .option("--allowed-sites <sites>", "the only sites that may hold replicas (comma-separated)", list)
    .option("--pin <nodes>", "storage nodes that must hold a replica (comma-separated or repeated)", list)
    .action((p: string, _o, c: Command) => policySet(ctx, p, opts<PolicySetOpts>(c)));

  registerNodeCommands(ctx, program, common, positiveInt);

  return program;
}
