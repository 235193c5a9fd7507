import { afterAll, beforeAll, expect, test } from "vitest";
import { EntryType, Prisma, Role } from "./client.ts";
import { createTestDatabase, type TestDatabase } from "./testing/database.ts";

let db: TestDatabase;
beforeAll(async () => {
  db = await createTestDatabase();
});
afterAll(async () => {
  await db?.drop();
});

test("creates and reads back through the client, relations and all", async () => {
  const user = await db.prisma.user.create({
    data: { email: "ada@example.com", name: "Ada", quotaBytes: 5n * 2n ** 40n },
  });
  expect(user).toMatchObject({ role: Role.user, disabled: false, quotaBytes: 5_497_558_138_880n });
  expect(user.id).toMatch(/^[0-9a-f-]{36}$/);

  const root = await db.prisma.entry.create({ data: { name: "", type: EntryType.folder, ownerId: user.id } });
  await db.prisma.entry.create({
    data: { name: "notes.txt", liveName: "notes.txt", type: EntryType.file, parentId: root.id, ownerId: user.id },
  });

  const read = await db.prisma.user.findUniqueOrThrow({
    where: { email: "ada@example.com" },
    include: { ownedEntries: { include: { children: true }, where: { parentId: null } } },
  });
  expect(read.ownedEntries).toHaveLength(1);
  expect(read.ownedEntries[0]?.children.map((child) => child.name)).toEqual(["notes.txt"]);
});

test("constraint violations surface as Prisma's known errors", async () => {
  await db.prisma.group.create({ data: { name: "staff" } });
  const error = await db.prisma.group.create({ data: { name: "staff" } }).catch((e: unknown) => e);
  expect(error).toBeInstanceOf(Prisma.PrismaClientKnownRequestError);
  expect((error as Prisma.PrismaClientKnownRequestError).code).toBe("P2002");
});

test("each test database starts from the migrated template, empty", async () => {
  const other = await createTestDatabase();
  try {
    expect(await other.prisma.user.count()).toBe(0);
    expect(await db.prisma.user.count()).toBe(1);
  } finally {
    await other.drop();
  }
});
