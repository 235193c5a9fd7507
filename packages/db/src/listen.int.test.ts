import { afterAll, beforeAll, expect, test } from "vitest";
import { PgListener } from "./listen.ts";
import { createTestDatabase, type TestDatabase } from "./testing/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

/** What a listener reported, in order; next() fails after 10 s naming what it waited for. */
function inbox<T>(what: string) {
  const items: T[] = [];
  const waiting: ((item: T) => void)[] = [];
  return {
    push(item: T) {
      const take = waiting.shift();
      if (take) take(item);
      else items.push(item);
    },
    next(): Promise<T> {
      if (items.length > 0) return Promise.resolve(items.shift()!);
      return new Promise<T>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ${what} within 10 s`)), 10_000);
        waiting.push((item) => {
          clearTimeout(timer);
          resolve(item);
        });
      });
    },
    get pending(): number {
      return items.length;
    },
  };
}

const notify = (channel: string, payload: string) => db.prisma.$executeRaw`SELECT pg_notify(${channel}, ${payload})`;

test("hears NOTIFYs on its channel only, after the sender commits", async () => {
  const heard = inbox<string>("notification");
  const connects = inbox<true>("connect");
  const listener = new PgListener(db.url, "test_events", {
    onNotify: (p) => heard.push(p),
    onConnect: () => connects.push(true),
  });
  listener.start();
  try {
    await connects.next();
    expect(listener.connected).toBe(true);
    await notify("other_channel", "not for us");
    await notify("test_events", "42");
    expect(await heard.next()).toBe("42");

    // Inside a transaction the notification waits for the commit, and a rollback drops it.
    await db.prisma
      .$transaction(async (tx) => {
        await tx.$executeRaw`SELECT pg_notify('test_events', 'rolled back')`;
        throw new Error("roll back");
      })
      .catch(() => undefined);
    await db.prisma.$transaction(async (tx) => {
      await tx.$executeRaw`SELECT pg_notify('test_events', 'committed')`;
    });
    expect(await heard.next()).toBe("committed");
    expect(heard.pending).toBe(0);
  } finally {
    await listener.stop();
  }
});

test("reconnects when its connection is killed, says so, and hears what is sent afterwards", async () => {
  const heard = inbox<string>("notification");
  const connects = inbox<true>("connect");
  const drops = inbox<Error>("disconnect");
  const listener = new PgListener(
    db.url,
    "test_reconnect",
    { onNotify: (p) => heard.push(p), onConnect: () => connects.push(true), onDisconnect: (e) => drops.push(e) },
    { retryMs: 20 },
  );
  listener.start();
  try {
    await connects.next();
    const killed = await db.prisma.$queryRaw<{ n: number }[]>`
      SELECT count(pg_terminate_backend(pid))::int AS n FROM pg_stat_activity
      WHERE datname = current_database() AND query = 'LISTEN test_reconnect'`;
    expect(killed[0]!.n).toBe(1);
    await drops.next();
    await connects.next();
    expect(listener.connected).toBe(true);
    await notify("test_reconnect", "after");
    expect(await heard.next()).toBe("after");
  } finally {
    await listener.stop();
  }
  expect(listener.connected).toBe(false);
});

test("keeps retrying a server that is not there, and stops when told", async () => {
  const drops = inbox<Error>("disconnect");
  const listener = new PgListener(
    "postgresql://nobody@127.0.0.1:1/none",
    "test_unreachable",
    { onNotify: () => undefined, onDisconnect: (e) => drops.push(e) },
    { retryMs: 10, maxRetryMs: 20 },
  );
  listener.start();
  await drops.next();
  await drops.next(); // a second attempt: it retries
  await listener.stop();
  expect(listener.connected).toBe(false);
});

test("refuses a channel name it would have to quote", () => {
  expect(() => new PgListener(db.url, "x; DROP TABLE users", { onNotify: () => undefined })).toThrow(
    /invalid channel name/,
  );
});

test("a LISTEN that hears nothing (as behind a transaction-pooling proxy) does not count as connected", async () => {
  // NOTIFY reaches listeners of the same database only: a probe sent to another one is
  // never heard, as a probe through PgBouncer in transaction mode is not.
  const elsewhere = await createTestDatabase();
  const drops = inbox<Error>("disconnect");
  let connects = 0;
  const listener = new PgListener(
    db.url,
    "test_deaf",
    { onNotify: () => undefined, onConnect: () => connects++, onDisconnect: (e) => drops.push(e) },
    { probeUrl: elsewhere.url, probeTimeoutMs: 200, retryMs: 50, maxRetryMs: 50 },
  );
  listener.start();
  try {
    const err = await drops.next();
    expect(err.message).toMatch(
      /LISTEN test_deaf heard nothing within 200 ms \(is PostgreSQL behind a transaction-pooling proxy\?\)/,
    );
    await drops.next(); // and it keeps trying
    expect(connects).toBe(0);
    expect(listener.connected).toBe(false);
  } finally {
    await listener.stop();
    await elsewhere.drop();
  }
});

test("its own probes are not passed on as notifications", async () => {
  const heard: string[] = [];
  const connects = inbox<true>("connect");
  const listener = new PgListener(db.url, "test_probe", {
    onNotify: (p) => heard.push(p),
    onConnect: () => connects.push(true),
  });
  listener.start();
  try {
    await connects.next();
    await notify("test_probe", "real");
    await expect.poll(() => heard).toEqual(["real"]);
  } finally {
    await listener.stop();
  }
});
