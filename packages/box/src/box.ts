import { readFile, rm } from "node:fs/promises";
import net from "node:net";
import path from "node:path";
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { startEmbeddedPostgres } from "@cumulus/db/embedded";
import { applyMigrations, checkDatabase } from "@cumulus/db/migrate";
import { createPrismaClient } from "@cumulus/db/client";
import { setJoinToken } from "@cumulus/control/cluster/join-token";
import { ensureAdmin } from "@cumulus/control/users/ensure-admin";
import { DEFAULT_CONTROL_CONFIG, type ControlContext } from "@cumulus/control/context";
import type { BoxEnv } from "./env.ts";
import { SupervisedChild, type ChildSpec } from "./supervisor.ts";
import { checkDataDir, checkPort, ConfigError, findFreePort } from "./preflight.ts";
import { defaultNodes, loadNodes, nextNodeName, saveNodes, type BoxNode } from "./nodes-config.ts";
import { writeFileAtomic } from "./atomic-file.ts";
import { ZBoxRequest, type BoxRequest, type BoxResponse } from "./control-socket.ts";

export type BoxInfo = { url: string; admin: { email: string; password: string | null; created: boolean } };

/**
 * The cluster in a box: PostgreSQL (embedded unless DATABASE_URL is set), the control
 * plane, its worker and the storage nodes, each a supervised child process. It listens on
 * a unix socket in the data dir so `npm run node -- start|add` can act on the running box.
 */
export class Box {
  private readonly env: BoxEnv;
  private readonly log: Logger;
  private children = new Map<string, SupervisedChild>();
  private nodes: BoxNode[] = [];
  private databaseUrl = "";
  private stopPostgres: (() => Promise<void>) | null = null;
  private socketServer: net.Server | null = null;
  private joinToken = "";
  private shuttingDown = false;
  private readonly logDir: string;

  constructor(env: BoxEnv, log: Logger) {
    this.env = env;
    this.log = log;
    this.logDir = path.join(env.dataDir, "logs");
  }

  get controlUrl(): string {
    return `http://127.0.0.1:${this.env.PORT}`;
  }

  async start(): Promise<BoxInfo> {
    const { env } = this;
    await checkDataDir(env.dataDir);
    await this.refuseSecondBox();
    await checkPort(env.PORT, "control plane", "PORT");

    this.nodes = (await loadNodes(env.dataDir)) ?? defaultNodes(env.dataDir, env.CUMULUS_NODE_BASE_PORT);
    for (const n of this.nodes) await checkPort(n.port, `storage node ${n.name}`, "CUMULUS_NODE_BASE_PORT");
    await saveNodes(env.dataDir, this.nodes);

    if (env.DATABASE_URL) {
      this.step(`using PostgreSQL from DATABASE_URL`);
      this.databaseUrl = env.DATABASE_URL;
      await checkDatabase(this.databaseUrl).catch((err: Error) => {
        throw new ConfigError(`DATABASE_URL: ${err.message}`);
      });
    } else {
      this.step(`starting embedded PostgreSQL (data in ${displayPath(path.join(env.dataDir, "postgres"))})`);
      const pg = await startEmbeddedPostgres({
        dataDir: env.dataDir,
        ...(env.CUMULUS_PG_PORT ? { port: env.CUMULUS_PG_PORT } : {}),
      });
      this.databaseUrl = pg.url;
      this.stopPostgres = pg.stop;
    }

    this.step("applying database migrations");
    const { applied } = await applyMigrations(this.databaseUrl, {
      migrationsDir: path.join(env.repoRoot, "prisma", "migrations"),
    });
    if (applied.length) this.step(`applied ${applied.length} migration(s): ${applied.join(", ")}`);

    const prisma = createPrismaClient(this.databaseUrl);
    const ctx: ControlContext = { prisma, log: this.log, config: DEFAULT_CONTROL_CONFIG };
    let admin;
    try {
      this.joinToken = await this.loadOrCreateJoinToken();
      await setJoinToken(ctx, this.joinToken);
      admin = await ensureAdmin(ctx, { email: env.CUMULUS_ADMIN_EMAIL, password: env.CUMULUS_ADMIN_PASSWORD });
    } finally {
      await prisma.$disconnect();
    }
    const passwordFile = path.join(env.dataDir, "initial-admin-password");
    if (admin.created && admin.password && !env.CUMULUS_ADMIN_PASSWORD) {
      await writeFileAtomic(passwordFile, admin.password + "\n", 0o600);
    }
    const password =
      admin.password ??
      (env.CUMULUS_ADMIN_PASSWORD ||
        (await readFile(passwordFile, "utf8").then(
          (s) => s.trim(),
          () => null,
        )));

    this.step(`starting the control plane on port ${env.PORT} and its worker`);
    this.spawnChild(this.controlSpec());
    for (let i = 1; i <= env.CUMULUS_WORKERS; i++) this.spawnChild(this.workerSpec(i));
    await this.waitForHealth(60_000);

    this.step(`starting ${this.nodes.length} storage nodes`);
    for (const n of this.nodes) this.spawnChild(this.nodeSpec(n));
    await this.listenSocket();
    await this.waitForActiveNodes(this.nodes.length, 60_000);
    await this.writeClusterFile();
    return { url: `http://localhost:${env.PORT}`, admin: { email: admin.email, password, created: admin.created } };
  }

  private step(msg: string): void {
    process.stderr.write(`cumulus: ${msg}\n`);
  }

  private async refuseSecondBox(): Promise<void> {
    const sock = socketPath(this.env.dataDir);
    const alive = await new Promise<boolean>((resolve) => {
      const c = net.connect(sock);
      c.once("connect", () => {
        c.destroy();
        resolve(true);
      });
      c.once("error", () => resolve(false));
    });
    if (alive)
      throw new ConfigError(
        `a cluster is already running with data dir ${this.env.dataDir}: stop it first (Ctrl-C in its terminal)`,
      );
    await rm(sock, { force: true });
  }

  private async loadOrCreateJoinToken(): Promise<string> {
    const file = path.join(this.env.dataDir, "join-token");
    try {
      const t = (await readFile(file, "utf8")).trim();
      if (t.length >= 16) return t;
    } catch {
      // first start
    }
    const token = randomBytes(24).toString("base64url");
    await writeFileAtomic(file, token + "\n", 0o600);
    return token;
  }

  private baseEnv(): NodeJS.ProcessEnv {
    const e: NodeJS.ProcessEnv = {
      PATH: process.env.PATH,
      HOME: process.env.HOME,
      LANG: process.env.LANG,
      NODE_ENV: "production",
      NEXT_TELEMETRY_DISABLED: "1",
      DATABASE_URL: this.databaseUrl,
      CUMULUS_LOG_LEVEL: this.env.CUMULUS_LOG_LEVEL,
    };
    if (this.env.CUMULUS_NODE_TIMEOUT_MS) e.CUMULUS_NODE_TIMEOUT_MS = String(this.env.CUMULUS_NODE_TIMEOUT_MS);
    if (this.env.CUMULUS_HEARTBEAT_INTERVAL_MS)
      e.CUMULUS_HEARTBEAT_INTERVAL_MS = String(this.env.CUMULUS_HEARTBEAT_INTERVAL_MS);
    for (const k of [
      "CUMULUS_DEFAULT_REPLICAS",
      "CUMULUS_RECONCILE_INTERVAL_MS",
      "CUMULUS_REPAIR_PER_NODE",
      "CUMULUS_REPAIR_CONCURRENCY",
      "CUMULUS_GC_GRACE_MS",
      "CUMULUS_ORPHAN_SWEEP_MS",
      "CUMULUS_TRUSTED_PROXIES",
    ] as const) {
      if (this.env[k] !== undefined) e[k] = String(this.env[k]);
    }
    return e;
  }

  private controlSpec(): ChildSpec {
    const web = path.join(this.env.repoRoot, "apps", "web");
    return {
      role: "control",
      name: "control",
      ports: { http: this.env.PORT },
      command: process.execPath,
      // apps/web's own server around Next.js: it alone sees the TCP peer address
      // that the IP rules need (see apps/web/server/main.ts).
      args: [
        path.join(this.env.repoRoot, "apps", "web", "server", "main.ts"),
        "-p",
        String(this.env.PORT),
        "-H",
        this.env.HOSTNAME,
      ],
      cwd: web,
      env: this.baseEnv(),
      restart: true,
    };
  }

  /** Worker i (1-based): "worker", then "worker-2", ... */
  private workerSpec(i = 1): ChildSpec {
    const name = i === 1 ? "worker" : `worker-${i}`;
    return {
      role: "worker",
      name,
      ports: {},
      command: process.execPath,
      args: [path.join(this.env.repoRoot, "apps", "web", "worker", "main.ts")],
      cwd: this.env.repoRoot,
      env: { ...this.baseEnv(), CUMULUS_WORKER_NAME: name },
      restart: true,
    };
  }

  private nodeSpec(n: BoxNode): ChildSpec {
    return {
      role: "storage-node",
      name: n.name,
      site: n.site,
      ports: { http: n.port },
      command: process.execPath,
      args: [path.join(this.env.repoRoot, "apps", "storage-node", "src", "main.ts")],
      cwd: this.env.repoRoot,
      env: {
        PATH: process.env.PATH,
        HOME: process.env.HOME,
        CUMULUS_NODE_NAME: n.name,
        CUMULUS_NODE_SITE: n.site,
        CUMULUS_NODE_DATA_DIR: n.dataDir,
        CUMULUS_NODE_HOST: "127.0.0.1",
        CUMULUS_NODE_PORT: String(n.port),
        // WAN acceleration: the node's UDT data listener (UDP) is at HTTP + 1000 unless that
        // is taken; the node picks and announces another then (apps/storage-node udt/start.ts).
        ...(this.env.CUMULUS_NODE_UDT === "off" ? { CUMULUS_NODE_UDT_PORT: "off" } : {}),
        CUMULUS_CONTROL_URL: this.controlUrl,
        CUMULUS_JOIN_TOKEN: this.joinToken,
        CUMULUS_LOG_LEVEL: this.env.CUMULUS_LOG_LEVEL,
        ...((n.capacityBytes ?? this.env.CUMULUS_NODE_CAPACITY_BYTES) !== undefined
          ? { CUMULUS_NODE_CAPACITY_BYTES: String(n.capacityBytes ?? this.env.CUMULUS_NODE_CAPACITY_BYTES) }
          : {}),
        ...(this.env.CUMULUS_NODE_SCRUB_BYTES_PER_SEC !== undefined
          ? { CUMULUS_NODE_SCRUB_BYTES_PER_SEC: String(this.env.CUMULUS_NODE_SCRUB_BYTES_PER_SEC) }
          : {}),
        ...(this.env.CUMULUS_NODE_SCRUB_INTERVAL_MS !== undefined
          ? { CUMULUS_NODE_SCRUB_INTERVAL_MS: String(this.env.CUMULUS_NODE_SCRUB_INTERVAL_MS) }
          : {}),
      },
      restart: false,
    };
  }

  private spawnChild(spec: ChildSpec): SupervisedChild {
    const existing = this.children.get(spec.name);
    if (existing?.running) throw new Error(`${spec.name} is already running (pid ${existing.state.pid})`);
    const child = new SupervisedChild(spec, this.logDir);
    this.children.set(spec.name, child);
    child.on("crashed", (exit: { code: number | null; signal: string | null }, delay: number | null) => {
      if (this.shuttingDown) return;
      const how =
        (exit.signal ? `was killed by ${exit.signal}` : `exited with code ${exit.code}`) +
        (child.lastError ? ` (${child.lastError})` : "");
      if (delay !== null) {
        this.step(
          `${spec.name} ${how}; restarting it in ${delay} ms (log: ${path.relative(process.cwd(), child.logFile)})`,
        );
      } else {
        this.step(
          `storage node ${spec.name} ${how}; it stays down like a failed server. Start it again with: npm run node -- start ${spec.name}`,
        );
      }
    });
    child.on("change", () => void this.writeClusterFile().catch(() => undefined));
    child.start();
    return child;
  }

  private async waitForHealth(timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.controlUrl}/api/health`);
        if (res.status === 200) return;
      } catch {
        // not listening yet
      }
      await sleep(250);
    }
    const control = this.children.get("control");
    throw new Error(`the control plane did not become healthy within ${timeoutMs / 1000} s: see ${control?.logFile}`);
  }

  async waitForActiveNodes(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (Date.now() < deadline) {
      try {
        const res = await fetch(`${this.controlUrl}/api/health`);
        const body = (await res.json()) as { nodes?: { active?: number } };
        if ((body.nodes?.active ?? 0) >= n) return;
      } catch {
        // retry
      }
      await sleep(250);
    }
    throw new Error(`storage nodes did not all register within ${timeoutMs / 1000} s: see the logs in ${this.logDir}`);
  }

  async writeClusterFile(): Promise<void> {
    const processes = [...this.children.values()].map((c) => c.state);
    const doc = {
      controlUrl: this.controlUrl,
      databaseUrl: this.databaseUrl,
      dataDir: this.env.dataDir,
      boxPid: process.pid,
      updatedAt: new Date().toISOString(),
      processes,
    };
    await writeFileAtomic(path.join(this.env.dataDir, "cluster.json"), JSON.stringify(doc, null, 2) + "\n", 0o600);
  }

  private async listenSocket(): Promise<void> {
    const server = net.createServer((conn) => {
      let buf = "";
      conn.on("data", (d) => {
        buf += d.toString("utf8");
        const nl = buf.indexOf("\n");
        if (nl < 0) return;
        const line = buf.slice(0, nl);
        void this.handleRequest(line).then((res) => conn.end(JSON.stringify(res) + "\n"));
      });
      conn.on("error", () => undefined);
    });
    await new Promise<void>((resolve, reject) => {
      server.once("error", reject);
      server.listen(socketPath(this.env.dataDir), () => resolve());
    });
    this.socketServer = server;
  }

  private async handleRequest(line: string): Promise<BoxResponse> {
    let req: BoxRequest;
    try {
      const parsed = ZBoxRequest.safeParse(JSON.parse(line));
      if (!parsed.success) return { ok: false, error: parsed.error.issues[0]?.message ?? "malformed request" };
      req = parsed.data;
    } catch {
      return { ok: false, error: "malformed request" };
    }
    try {
      if (req.cmd === "status") return { ok: true, processes: [...this.children.values()].map((c) => c.state) };
      if (req.cmd === "start-node") return await this.startNode(req.name);
      return await this.addNode(req.site, req.capacityBytes);
    } catch (err) {
      return { ok: false, error: (err as Error).message };
    }
  }

  private async startNode(name: string): Promise<BoxResponse> {
    const node = this.nodes.find((n) => n.name === name);
    if (!node)
      return {
        ok: false,
        error: `no storage node named ${name} in this box (known: ${this.nodes.map((n) => n.name).join(", ")})`,
      };
    const child = this.children.get(name);
    if (child?.running) return { ok: false, error: `${name} is already running (pid ${child.state.pid})` };
    const started = this.spawnChild(this.nodeSpec(node));
    await this.writeClusterFile();
    this.step(`storage node ${name} started again (pid ${started.state.pid})`);
    return { ok: true, node: started.state };
  }

  private async addNode(site: string, capacityBytes?: number): Promise<BoxResponse> {
    const name = nextNodeName(this.nodes, site);
    const taken = new Set(this.nodes.map((n) => n.port));
    taken.add(this.env.PORT);
    const port = await findFreePort(this.env.CUMULUS_NODE_BASE_PORT, taken);
    const node: BoxNode = {
      name,
      site,
      port,
      dataDir: path.join(this.env.dataDir, "nodes", name),
      ...(capacityBytes !== undefined ? { capacityBytes } : {}),
    };
    this.nodes.push(node);
    await saveNodes(this.env.dataDir, this.nodes);
    const started = this.spawnChild(this.nodeSpec(node));
    await this.writeClusterFile();
    const limit = capacityBytes !== undefined ? `, capacity ${capacityBytes} bytes` : "";
    this.step(`storage node ${name} added in site ${site} (pid ${started.state.pid}, port ${port}${limit})`);
    return { ok: true, node: started.state };
  }

  async stop(): Promise<void> {
    if (this.shuttingDown) return;
    this.shuttingDown = true;
    this.socketServer?.close();
    await rm(socketPath(this.env.dataDir), { force: true });
    const nodes = [...this.children.values()].filter((c) => c.spec.role === "storage-node");
    const others = [...this.children.values()].filter((c) => c.spec.role !== "storage-node");
    await Promise.all(nodes.map((c) => c.stop()));
    await Promise.all(others.map((c) => c.stop()));
    await Promise.all([...this.children.values()].map((c) => c.closeLog()));
    if (this.children.size > 0) await this.writeClusterFile().catch(() => undefined);
    if (this.stopPostgres) await this.stopPostgres();
  }
}

export function socketPath(dataDir: string): string {
  return path.join(dataDir, "box.sock");
}

function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}

/** A path as the user would like to read it: relative when inside the current directory. */
function displayPath(p: string): string {
  const rel = path.relative(process.cwd(), p);
  return rel && !rel.startsWith("..") ? rel : p;
}
