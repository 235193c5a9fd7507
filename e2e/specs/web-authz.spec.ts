import { readFile, readdir } from "node:fs/promises";
import path from "node:path";
import { test, expect } from "@playwright/test";
import type pg from "pg";
import { TestCluster, repoRoot } from "../fixtures/cluster.ts";
import { api, createUser, database, signIn, trpc, trpcOk, uploadFile, type Cookie } from "../fixtures/web.ts";

// Authorization at the API level, against a real cluster: EVERY tRPC procedure and EVERY
// route handler under /api is called signed out, as another (non-owner) user and as a
// non-admin where that matters; each call must be refused and the database must not
// change. The procedures and routes are discovered from the source, so a new one without
// a case here fails the test.

test.describe.configure({ mode: "serial" });

const PW = "a long enough password";
const WEB = path.join(repoRoot, "apps", "web", "src");

let cluster: TestCluster;
let db: pg.Client;
let admin: Cookie;
let alice: Cookie; // the owner
let bob: Cookie; // another user, not an admin
let bobToken: string;

/** Ids and paths of alice's things, which bob must not reach. */
const f = {
  home: "",
  folder: "",
  file: "",
  trashedId: "",
  linkId: "",
  grantId: "",
  aliceId: "",
  aliceDeviceId: "",
  uploadId: "",
  groupId: "",
  ruleId: "",
  nodeId: "",
  nodeName: "",
};

// --- discovery ----------------------------------------------------------------------

type Kind = "query" | "mutation";

/** Every procedure of the app router, as "router.name" → query|mutation, from the source. */
async function discoverProcedures(): Promise<Map<string, Kind>> {
  const dir = path.join(WEB, "server", "routers");
  const root = await readFile(path.join(dir, "root.ts"), "utf8");
  const out = new Map<string, Kind>();
  const kindOf = (src: string, name: string): Kind => {
    const start = src.search(new RegExp(`^ {2}${name}: `, "m"));
    const rest = src.slice(start);
    const next = rest.slice(1).search(/^ {2}\w+: /m);
    const body = next === -1 ? rest : rest.slice(0, next + 1);
    return /\.mutation\(/.test(body) ? "mutation" : "query";
  };
  for (const m of root.matchAll(/^ {2}(\w+): (publicProcedure|protectedProcedure|adminProcedure)/gm)) {
    out.set(m[1]!, kindOf(root, m[1]!));
  }
  for (const m of root.matchAll(/^ {2}(\w+): (\w+Router),/gm)) {
    const imp = new RegExp(`import \\{ ${m[2]} \\} from "\\./(\\w+)\\.ts"`).exec(root);
    if (!imp) throw new Error(`cannot find the file of ${m[2]}`);
    const src = await readFile(path.join(dir, `${imp[1]}.ts`), "utf8");
    for (const p of src.matchAll(/^ {2}(\w+): (publicProcedure|protectedProcedure|adminProcedure)/gm)) {
      out.set(`${m[1]}.${p[1]}`, kindOf(src, p[1]!));
    }
  }
  return out;
}

/** Every route handler under app/api as "METHOD /api/…" (dynamic segments kept as written). */
async function discoverRoutes(): Promise<string[]> {
  const base = path.join(WEB, "app");
  const files = (await readdir(path.join(base, "api"), { recursive: true }))
    .filter((p) => p.endsWith("route.ts"))
    .map((p) => path.join(base, "api", p));
  const out: string[] = [];
  for (const file of files) {
    const src = await readFile(file, "utf8");
    const route = "/" + path.relative(base, path.dirname(file)).split(path.sep).join("/");
    const methods = new Set<string>();
    for (const m of src.matchAll(/export (?:const|async function|function) (GET|POST|PUT|PATCH|DELETE|HEAD)\b/g))
      methods.add(m[1]!);
    for (const m of src.matchAll(/export \{([^}]*)\}/g)) {
      for (const part of m[1]!.split(",")) {
        const name =
          /as (GET|POST|PUT|PATCH|DELETE|HEAD)\b/.exec(part)?.[1] ??
          /^\s*(GET|POST|PUT|PATCH|DELETE|HEAD)\s*$/.exec(part)?.[1];
        if (name) methods.add(name);
      }
    }
    for (const m of methods) out.push(`${m} ${route}`);
  }
  // Pages Router API routes (the streaming gateway): one handler for the methods it names.
  const pagesApi = path.join(WEB, "pages", "api");
  const pages = (await readdir(pagesApi, { recursive: true }).catch(() => [] as string[])).filter((p) =>
    p.endsWith(".ts"),
  );
  for (const p of pages) {
    const src = await readFile(path.join(pagesApi, p), "utf8");
    if (!/export default/.test(src)) continue;
    const route = "/api/" + p.replace(/\.ts$/, "").split(path.sep).join("/");
    const methods = ["GET", "HEAD", "POST", "PUT", "DELETE"].filter((m) => src.includes(`"${m}"`));
    for (const m of methods.length > 0 ? methods : ["GET"]) out.push(`${m} ${route}`);
  }
  return out.sort();
}

// --- the cases ----------------------------------------------------------------------

/**
 * admin: admins only (signed out → 401, bob → 403).
 * owner: acts on alice's things given in the input (signed out → 401, bob → 403/404).
 * self: acts only on the caller's own things (signed out → 401; bob's answer must not
 *   show alice's things, mutations are not called as bob).
 * public: no account needed (must not leak; see the notes).
 */
type Access = "admin" | "owner" | "self" | "public";
type ProcCase = { access: Access; input?: () => unknown };

const PROCS: Record<string, ProcCase> = {
  health: { access: "public" },
  // session (the caller's own account)
  "session.current": { access: "public" },
  "session.me": { access: "self" },
  "session.changePassword": {
    access: "self",
    input: () => ({ currentPassword: PW, newPassword: "changed password 123" }),
  },
  "session.sessions": { access: "self" },
  "session.signOutEverywhere": { access: "self", input: () => ({}) },
  "session.devices": { access: "self" },
  "session.revokeDevice": { access: "owner", input: () => ({ id: f.aliceDeviceId }) },
  // users, groups, nodes, audit, IP rules: admins
  "users.list": { access: "admin", input: () => ({}) },
  "users.get": { access: "admin", input: () => ({ id: f.aliceId }) },
  "users.create": {
    access: "admin",
    input: () => ({ email: "mallory@corp.test", name: "M", password: PW, role: "admin" }),
  },
  "users.setDisabled": { access: "admin", input: () => ({ id: f.aliceId, disabled: true }) },
  "users.delete": { access: "admin", input: () => ({ id: f.aliceId }) },
  "users.resetPassword": { access: "admin", input: () => ({ id: f.aliceId, password: "taken over 12345" }) },
  "users.setRole": { access: "admin", input: () => ({ id: f.aliceId, role: "admin" }) },
  "users.setQuota": { access: "admin", input: () => ({ id: f.aliceId, quotaBytes: 1 }) },
  "users.unlock": { access: "admin", input: () => ({ id: f.aliceId }) },
  "users.revokeDevice": { access: "admin", input: () => ({ id: f.aliceDeviceId }) },
  "groups.list": { access: "admin" },
  "groups.get": { access: "admin", input: () => ({ id: f.groupId }) },
  "groups.create": { access: "admin", input: () => ({ name: "mallory-group" }) },
  "groups.delete": { access: "admin", input: () => ({ id: f.groupId }) },
  "groups.addMember": { access: "admin", input: () => ({ groupId: f.groupId, userId: f.aliceId }) },
  "groups.removeMember": { access: "admin", input: () => ({ groupId: f.groupId, userId: f.aliceId }) },
  "nodes.overview": { access: "admin" },
  "nodes.usage": { access: "admin", input: () => ({ hours: 24 }) },
  "nodes.get": { access: "admin", input: () => ({ id: f.nodeId }) },
  "nodes.setStatus": { access: "admin", input: () => ({ id: f.nodeId, status: "draining" }) },
  "audit.list": { access: "admin", input: () => ({ limit: 10 }) },
  "audit.actions": { access: "admin" },
  "ipRules.list": { access: "admin" },
  "ipRules.create": { access: "admin", input: () => ({ cidr: "0.0.0.0/0", action: "deny", force: true }) },
  "ipRules.delete": { access: "admin", input: () => ({ id: f.ruleId }) },
  "ipRules.test": { access: "admin", input: () => ({ ip: "127.0.0.1", userId: f.aliceId }) },
  "ipRules.myAddress": { access: "admin" },
  // policies: reading needs read, setting manage; the inspection and pickers are admin pages
  "policies.get": { access: "owner", input: () => ({ path: f.folder }) },
  "policies.set": { access: "owner", input: () => ({ path: f.folder, replicas: 1 }) },
  "policies.inspect": { access: "admin", input: () => ({ path: f.folder }) },
  "policies.choices": { access: "admin" },
  "policies.browse": { access: "admin", input: () => ({ path: f.folder }) },
  "policies.publicEntries": { access: "admin" },
  "policies.setPublic": { access: "admin", input: () => ({ path: f.folder, isPublic: true }) },
  // files (the other half of the web issue)
  "files.home": { access: "self" },
  "files.list": { access: "owner", input: () => ({ path: f.folder }) },
  "files.stat": { access: "owner", input: () => ({ path: f.file }) },
  "files.mkdir": { access: "owner", input: () => ({ path: `${f.folder}/intruder`, parents: false }) },
  "files.move": { access: "owner", input: () => ({ from: f.file, to: `${f.folder}/moved.txt` }) },
  "files.delete": { access: "owner", input: () => ({ path: f.file, recursive: true }) },
  "files.trash": { access: "self" },
  "files.restore": { access: "owner", input: () => ({ id: f.trashedId }) },
  "files.purge": { access: "owner", input: () => ({ id: f.trashedId }) },
  "files.versions": { access: "owner", input: () => ({ path: f.file }) },
  "files.restoreVersion": { access: "owner", input: () => ({ path: f.file, version: 1 }) },
  "files.search": { access: "self", input: () => ({ q: "plans" }) },
  // shares
  "shares.grants": { access: "owner", input: () => ({ path: f.folder }) },
  "shares.grant": {
    access: "owner",
    input: () => ({ path: f.folder, principal: { type: "user", email: "bob@corp.test" }, permission: "manage" }),
  },
  "shares.revoke": { access: "owner", input: () => ({ path: f.folder, grantId: f.grantId }) },
  "shares.suggest": { access: "self", input: () => ({ q: "" }) },
  "shares.sharedWithMe": { access: "self" },
  "shares.links": { access: "owner", input: () => ({ path: f.folder }) },
  "shares.createLink": { access: "owner", input: () => ({ path: f.folder }) },
  "shares.revokeLink": { access: "owner", input: () => ({ id: f.linkId }) },
};

/** What bob's answer to a "self" query must not contain. */
const SECRETS = ["secret-plans", "plans.txt", "old.txt"];

type RouteCase = {
  /** The URL to call (alice's things in it), body for writes. */
  url: () => string;
  body?: () => unknown;
  /**
   * signed-out status; "any4xx" for routes whose refusal is not 401 (e.g. sign-in itself);
   * "redirect" for a form post answered with a redirect back to its page (and no cookie).
   */
  signedOut: number | "any4xx" | "redirect";
  /**
   * bob's call: "refused" (403/404/409), "self" (allowed, must not leak), "admin" (403),
   * "skip" (not user-authenticated), "items-refused" (a batch: 200 with every item refused).
   */
  bob: "refused" | "self" | "admin" | "skip" | "items-refused";
};

const q = (p: string) => encodeURIComponent(p);

const ROUTES: Record<string, RouteCase> = {
  // better-auth: sign-in with a wrong password; sign-out and get-session without a session.
  "GET /api/auth/[...all]": { url: () => "/api/auth/get-session", signedOut: 200, bob: "skip" },
  "POST /api/auth/[...all]": {
    url: () => "/api/auth/sign-up/email",
    body: () => ({ email: "x@corp.test", password: PW, name: "x" }),
    signedOut: "any4xx",
    bob: "skip",
  },
  "GET /api/health": { url: () => "/api/health", signedOut: 200, bob: "skip" },
  // Storage nodes authenticate with their own key (a JWT), never a user.
  // (A user's cookie or device token means nothing to them: "skip".)
  "POST /api/nodes/register": { url: () => "/api/nodes/register", body: () => ({}), signedOut: "any4xx", bob: "skip" },
  "POST /api/nodes/heartbeat": {
    url: () => "/api/nodes/heartbeat",
    body: () => ({}),
    signedOut: "any4xx",
    bob: "skip",
  },
  "POST /api/nodes/chunks/report": {
    url: () => "/api/nodes/chunks/report",
    body: () => ({}),
    signedOut: "any4xx",
    bob: "skip",
  },
  "GET /api/trpc/[trpc]": { url: () => "/api/trpc/users.list", signedOut: 401, bob: "admin" },
  "POST /api/trpc/[trpc]": {
    url: () => "/api/trpc/users.create",
    body: () => ({ email: "m@corp.test", name: "m", password: PW }),
    signedOut: 401,
    bob: "admin",
  },
  "POST /api/v1/auth/device-tokens": {
    url: () => "/api/v1/auth/device-tokens",
    body: () => ({ email: "alice@corp.test", password: "wrong password", deviceName: "x" }),
    signedOut: 401,
    bob: "skip",
  },
  "DELETE /api/v1/auth/device-tokens/current": {
    url: () => "/api/v1/auth/device-tokens/current",
    signedOut: 401,
    bob: "skip",
  },
  "GET /api/v1/auth/whoami": { url: () => "/api/v1/auth/whoami", signedOut: 401, bob: "self" },
  "GET /api/v1/changes": { url: () => "/api/v1/changes?cursor=0", signedOut: 401, bob: "self" },
  "GET /api/v1/downloads": { url: () => `/api/v1/downloads?path=${q(f.file)}`, signedOut: 401, bob: "refused" },
  "POST /api/v1/fs/delete": {
    url: () => "/api/v1/fs/delete",
    body: () => ({ path: f.file }),
    signedOut: 401,
    bob: "refused",
  },
  "GET /api/v1/fs/list": { url: () => `/api/v1/fs/list?path=${q(f.folder)}`, signedOut: 401, bob: "refused" },
  "POST /api/v1/fs/mkdir": {
    url: () => "/api/v1/fs/mkdir",
    body: () => ({ path: `${f.folder}/x` }),
    signedOut: 401,
    bob: "refused",
  },
  "POST /api/v1/fs/move": {
    url: () => "/api/v1/fs/move",
    body: () => ({ from: f.file, to: `${f.folder}/y.txt` }),
    signedOut: 401,
    bob: "refused",
  },
  "GET /api/v1/fs/stat": { url: () => `/api/v1/fs/stat?path=${q(f.file)}`, signedOut: 401, bob: "refused" },
  "GET /api/v1/fs/trash": { url: () => "/api/v1/fs/trash", signedOut: 401, bob: "self" },
  "POST /api/v1/fs/trash/restore": {
    url: () => "/api/v1/fs/trash/restore",
    body: () => ({ id: f.trashedId }),
    signedOut: 401,
    bob: "refused",
  },
  "GET /api/v1/fs/versions": { url: () => `/api/v1/fs/versions?path=${q(f.file)}`, signedOut: 401, bob: "refused" },
  "POST /api/v1/fs/versions/restore": {
    url: () => "/api/v1/fs/versions/restore",
    body: () => ({ path: f.file, version: 1 }),
    signedOut: 401,
    bob: "refused",
  },
  "GET /api/v1/nodes": { url: () => "/api/v1/nodes", signedOut: 401, bob: "admin" },
  "GET /api/v1/nodes/[name]": { url: () => `/api/v1/nodes/${f.nodeName}`, signedOut: 401, bob: "admin" },
  "POST /api/v1/nodes/[name]/drain": { url: () => `/api/v1/nodes/${f.nodeName}/drain`, signedOut: 401, bob: "admin" },
  "POST /api/v1/nodes/[name]/remove": { url: () => `/api/v1/nodes/${f.nodeName}/remove`, signedOut: 401, bob: "admin" },
  "GET /api/v1/policy": { url: () => `/api/v1/policy?path=${q(f.folder)}`, signedOut: 401, bob: "refused" },
  "PUT /api/v1/policy": {
    url: () => "/api/v1/policy",
    body: () => ({ path: f.folder, replicas: 1 }),
    signedOut: 401,
    bob: "refused",
  },
  "GET /api/v1/sysinfo": { url: () => "/api/v1/sysinfo", signedOut: 401, bob: "self" },
  "POST /api/v1/uploads": {
    url: () => "/api/v1/uploads",
    body: () => ({
      path: `${f.folder}/planted.bin`,
      size: 1,
      chunks: [{ id: "a".repeat(64), size: 1 }],
      baseVersion: null,
    }),
    signedOut: 401,
    bob: "refused",
  },
  "POST /api/v1/uploads/batch": {
    url: () => "/api/v1/uploads/batch",
    body: () => ({
      uploads: [
        {
          path: `${f.folder}/planted-batch.bin`,
          size: 1,
          chunks: [{ id: "b".repeat(64), size: 1 }],
          baseVersion: null,
        },
      ],
    }),
    signedOut: 401,
    bob: "items-refused",
  },
  "POST /api/v1/uploads/batch/commit": {
    url: () => "/api/v1/uploads/batch/commit",
    body: () => ({ commits: [{ uploadId: f.uploadId, receipts: {} }] }),
    signedOut: 401,
    bob: "items-refused",
  },
  "POST /api/v1/downloads/batch": {
    url: () => "/api/v1/downloads/batch",
    body: () => ({ files: [{ path: f.file }] }),
    signedOut: 401,
    bob: "items-refused",
  },
  "GET /api/v1/fs/tree": { url: () => `/api/v1/fs/tree?path=${q(f.folder)}`, signedOut: 401, bob: "refused" },
  "POST /api/v1/uploads/[id]/commit": {
    url: () => `/api/v1/uploads/${f.uploadId}/commit`,
    body: () => ({ receipts: {} }),
    signedOut: 401,
    bob: "refused",
  },
  // The download gateway (the other half of the web issue).
  "GET /api/gateway/files/[[...path]]": {
    url: () => `/api/gateway/files${f.file}`,
    signedOut: "any4xx",
    bob: "refused",
  },
  "HEAD /api/gateway/files/[[...path]]": {
    url: () => `/api/gateway/files${f.file}`,
    signedOut: "any4xx",
    bob: "refused",
  },
  "GET /api/gateway/s/[token]": { url: () => "/api/gateway/s/not-a-real-token", signedOut: "any4xx", bob: "refused" },
  // Unlocking a password-protected link: a wrong token or password unlocks nothing, for anyone.
  "POST /api/gateway/s/[token]": {
    url: () => "/api/gateway/s/not-a-real-token",
    body: () => ({ password: "guess" }),
    signedOut: "redirect",
    bob: "skip",
  },
  "HEAD /api/gateway/s/[token]": { url: () => "/api/gateway/s/not-a-real-token", signedOut: "any4xx", bob: "refused" },
};

// --- the database must not change ---------------------------------------------------

/** Tables a refused call must leave alone (audit rows, node heartbeats and samples may change). */
const WATCHED = [
  "User",
  "Account",
  "Session",
  "DeviceToken",
  "Group",
  "GroupMember",
  "IpRule",
  "Entry",
  "FileVersion",
  "VersionChunk",
  "ReplicationPolicy",
  "Upload",
  "AclEntry",
  "ShareLink",
  "Change",
];

async function fingerprint(): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const t of WATCHED) {
    // DeviceToken.lastUsedAt moves whenever a token is used; everything else must hold still.
    const cols = t === "DeviceToken" ? `id, "userId", name, "tokenHash", "revokedAt", "expiresAt"` : "*";
    const r = await db.query(
      `SELECT count(*)::int AS n, md5(coalesce(string_agg(x::text, ',' ORDER BY x::text), '')) AS h FROM (SELECT ${cols} FROM "${t}") x`,
    );
    out[t] = `${r.rows[0].n}:${r.rows[0].h}`;
  }
  out["StorageNode.status"] = (
    await db.query(`SELECT string_agg(name || '=' || status, ',' ORDER BY name) AS s FROM "StorageNode"`)
  ).rows[0].s;
  return out;
}

// --- setup --------------------------------------------------------------------------

test.beforeAll(async () => {
  cluster = await TestCluster.create();
  await cluster.start();
  db = await database(cluster);
  admin = await signIn(cluster, cluster.admin!.email, cluster.admin!.password);
  f.aliceId = await createUser(cluster, admin, "alice@corp.test", PW);
  await createUser(cluster, admin, "bob@corp.test", PW);
  await createUser(cluster, admin, "carol@corp.test", PW);
  alice = await signIn(cluster, "alice@corp.test", PW);
  bob = await signIn(cluster, "bob@corp.test", PW);
  // Bob's home exists before the fingerprints (it is created on first use, by his own calls).
  await trpcOk(cluster, bob, "files.home", "query");
  bobToken = (
    await api<{ token: string }>(cluster, {}, "POST", "/auth/device-tokens", {
      email: "bob@corp.test",
      password: PW,
      deviceName: "bob-cli",
    })
  ).body.token;

  f.home = (await api<{ home: string }>(cluster, { cookie: alice }, "GET", "/auth/whoami")).body.home;
  f.folder = `${f.home}/secret-plans`;
  f.file = `${f.folder}/plans.txt`;
  await uploadFile(cluster, { cookie: alice }, f.file, Buffer.from("the plans\n"));
  await uploadFile(cluster, { cookie: alice }, `${f.folder}/old.txt`, Buffer.from("old\n"));
  await trpcOk(cluster, alice, "files.delete", "mutation", { path: `${f.folder}/old.txt` });
  f.trashedId = (
    await trpcOk<{ items: { id: string; name: string }[] }>(cluster, alice, "files.trash", "query")
  ).items.find((i) => i.name === "old.txt")!.id;
  await trpcOk(cluster, alice, "shares.grant", "mutation", {
    path: f.folder,
    principal: { type: "user", email: "carol@corp.test" },
    permission: "read",
  });
  f.grantId = (
    await db.query(`SELECT a.id FROM "AclEntry" a JOIN "User" u ON u.id = a."userId" WHERE u.email = 'carol@corp.test'`)
  ).rows[0].id;
  f.linkId = (
    await trpcOk<{ link: { id: string } }>(cluster, alice, "shares.createLink", "mutation", { path: f.folder })
  ).link.id;
  f.aliceDeviceId = (
    await api<{ tokenId: string }>(cluster, {}, "POST", "/auth/device-tokens", {
      email: "alice@corp.test",
      password: PW,
      deviceName: "alice-cli",
    })
  ).body.tokenId;
  const begun = await api<{ uploadId: string }>(cluster, { cookie: alice }, "POST", "/uploads", {
    path: `${f.folder}/pending.bin`,
    size: 5,
    chunks: [{ id: "b".repeat(64), size: 5 }],
    baseVersion: null,
  });
  f.uploadId = begun.body.uploadId;
  f.groupId = (await trpcOk<{ id: string }>(cluster, admin, "groups.create", "mutation", { name: "staff" })).id;
  f.ruleId = (
    await trpcOk<{ id: string }>(cluster, admin, "ipRules.create", "mutation", {
      cidr: "192.0.2.0/24",
      action: "deny",
      userId: f.aliceId,
    })
  ).id;
  const node = (await db.query(`SELECT id, name FROM "StorageNode" ORDER BY name LIMIT 1`)).rows[0];
  f.nodeId = node.id;
  f.nodeName = node.name;
});

test.afterAll(async () => {
  await db?.end().catch(() => undefined);
  await cluster?.destroy();
});

// --- the tests ----------------------------------------------------------------------

test("every tRPC procedure has an authorization case (new procedures must add one)", async () => {
  const found = await discoverProcedures();
  const missing = [...found.keys()].filter((p) => !(p in PROCS));
  expect(missing, "procedures without a case in web-authz.spec.ts").toEqual([]);
  const gone = Object.keys(PROCS).filter((p) => !found.has(p));
  expect(gone, "cases for procedures that no longer exist").toEqual([]);
});

test("every /api route handler has an authorization case", async () => {
  const found = await discoverRoutes();
  expect(
    found.filter((r) => !(r in ROUTES)),
    "routes without a case in web-authz.spec.ts",
  ).toEqual([]);
});

test("signed out, every non-public tRPC procedure is refused with 401 and nothing changes", async () => {
  const found = await discoverProcedures();
  const before = await fingerprint();
  for (const [name, kind] of found) {
    const c = PROCS[name]!;
    const r = await trpc(cluster, null, name, kind, c.input?.());
    if (c.access === "public") {
      expect(r.status, `${name} (public)`).toBe(200);
      continue;
    }
    expect(r.status, `${name} signed out: ${JSON.stringify(r.body)}`).toBe(401);
    expect(r.body.error?.data?.code, name).toBe("UNAUTHORIZED");
  }
  // An expired or forged cookie is no better than none.
  const forged = await trpc(cluster, "cumulus.session_token=forged.value", "users.list", "query", {});
  expect(forged.status).toBe(401);
  expect(await fingerprint()).toEqual(before);
  // Public procedures do not leak: nobody is signed in.
  expect(await trpcOk(cluster, null, "session.current", "query")).toBeNull();
});

test("as a non-admin, every admin procedure is refused with 403 and nothing changes", async () => {
  const found = await discoverProcedures();
  const before = await fingerprint();
  for (const [name, kind] of found) {
    if (PROCS[name]!.access !== "admin") continue;
    const r = await trpc(cluster, bob, name, kind, PROCS[name]!.input?.());
    expect(r.status, `${name} as bob: ${JSON.stringify(r.body)}`).toBe(403);
    expect(r.body.error?.data?.code, name).toBe("FORBIDDEN");
  }
  expect(await fingerprint()).toEqual(before);
  // And the admin pages render their refusal server-side.
  const page = await fetch(`${cluster.url}/admin/users`, { headers: { cookie: bob } });
  expect(await page.text()).toContain("Administrators only");
});

test("as another user, every procedure on the owner's things is refused and nothing changes; own-scope answers do not leak", async () => {
  const found = await discoverProcedures();
  const before = await fingerprint();
  for (const [name, kind] of found) {
    const c = PROCS[name]!;
    if (c.access === "owner") {
      const r = await trpc(cluster, bob, name, kind, c.input?.());
      expect([403, 404], `${name} as bob: ${r.status} ${JSON.stringify(r.body)}`).toContain(r.status);
    } else if (c.access === "self" && kind === "query") {
      const r = await trpc(cluster, bob, name, kind, c.input?.());
      expect(r.status, `${name} as bob: ${JSON.stringify(r.body)}`).toBe(200);
      const text = JSON.stringify(r.body);
      for (const s of SECRETS) expect(text, `${name} as bob shows ${s}`).not.toContain(s);
    }
  }
  expect(await fingerprint()).toEqual(before);
  // The owner still has everything (the refusals were refusals, not damage).
  expect(
    (
      await trpcOk<{ entries: { name: string }[] }>(cluster, alice, "files.list", "query", { path: f.folder })
    ).entries.map((e) => e.name),
  ).toContain("plans.txt");
});

test("every /api route refuses a signed-out caller, another user and a non-admin; nothing changes", async () => {
  const found = await discoverRoutes();
  const before = await fingerprint();
  const call = async (key: string, auth: { cookie?: Cookie; token?: string }) => {
    const [method, route] = key.split(" ") as [string, string];
    const c = ROUTES[key]!;
    const headers: Record<string, string> = { origin: cluster.url };
    if (auth.cookie) headers["cookie"] = auth.cookie;
    if (auth.token) headers["authorization"] = `Bearer ${auth.token}`;
    const body = c.body?.();
    if (body !== undefined) headers["content-type"] = "application/json";
    const res = await fetch(`${cluster.url}${c.url()}`, {
      method,
      headers,
      redirect: "manual",
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = method === "HEAD" ? "" : await res.text();
    return { status: res.status, text, route, setCookie: res.headers.get("set-cookie") };
  };
  for (const key of found) {
    const c = ROUTES[key]!;
    const out = await call(key, {});
    if (c.signedOut === "any4xx") expect(out.status, `${key} signed out: ${out.text}`).toBeGreaterThanOrEqual(400);
    else if (c.signedOut === "redirect") {
      expect(out.status, `${key} signed out: ${out.text}`).toBeGreaterThanOrEqual(300);
      expect(out.status, `${key} signed out: ${out.text}`).toBeLessThan(400);
      expect(out.setCookie, `${key} signed out sets no cookie`).toBeNull();
    } else expect(out.status, `${key} signed out: ${out.text}`).toBe(c.signedOut);
    if (c.signedOut === 200) continue;
    expect(out.status, `${key} signed out`).toBeLessThan(500);
    for (const auth of [{ cookie: bob }, { token: bobToken }]) {
      if (c.bob === "skip") continue;
      const r = await call(key, auth);
      const who = auth.cookie ? "bob (session)" : "bob (device token)";
      if (c.bob === "admin") expect(r.status, `${key} as ${who}: ${r.text}`).toBe(403);
      else if (c.bob === "refused")
        expect([401, 403, 404, 409], `${key} as ${who}: ${r.status} ${r.text}`).toContain(r.status);
      else if (c.bob === "items-refused") {
        expect(r.status, `${key} as ${who}: ${r.text}`).toBe(200);
        const items = (JSON.parse(r.text) as { results: { ok: boolean; error?: { code: string } }[] }).results;
        expect(items.length, `${key} as ${who}`).toBeGreaterThan(0);
        for (const item of items) {
          expect(item.ok, `${key} as ${who}: ${r.text}`).toBe(false);
          expect(["FORBIDDEN", "NOT_FOUND", "CONFLICT"], `${key} as ${who}: ${r.text}`).toContain(item.error?.code);
        }
      } else {
        expect(r.status, `${key} as ${who}: ${r.text}`).toBe(200);
        for (const s of SECRETS) expect(r.text, `${key} as ${who} shows ${s}`).not.toContain(s);
      }
    }
  }
  expect(await fingerprint()).toEqual(before);
});
