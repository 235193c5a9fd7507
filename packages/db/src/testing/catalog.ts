import pg from "pg";

// A database's schema as comparable text, one entry per object, keyed by a stable name.
// Deliberately blind to what Prisma itself ignores, so a migrated database and a freshly
// created one compare equal: column order (ALTER TABLE ADD COLUMN appends) and enum value
// order (ALTER TYPE ADD VALUE appends).

export type Catalog = Map<string, string>;

const QUERIES: Array<{ kind: string; sql: string }> = [
  {
    kind: "table",
    sql: `SELECT c.relname AS key, c.relkind::text AS value
          FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p', 'v', 'm', 'f')`,
  },
  {
    kind: "column",
    sql: `SELECT format('%I.%I', c.relname, a.attname) AS key,
                 concat_ws(' ', format_type(a.atttypid, a.atttypmod),
                           CASE WHEN a.attnotnull THEN 'NOT NULL' ELSE 'NULL' END,
                           'DEFAULT ' || pg_get_expr(d.adbin, d.adrelid),
                           CASE WHEN a.attidentity <> '' THEN 'IDENTITY ' || a.attidentity::text END,
                           CASE WHEN a.attgenerated <> '' THEN 'GENERATED ' || a.attgenerated::text END,
                           'COLLATE ' || NULLIF(co.collname, 'default')) AS value
          FROM pg_attribute a
          JOIN pg_class c ON c.oid = a.attrelid
          JOIN pg_namespace n ON n.oid = c.relnamespace
          LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum
          LEFT JOIN pg_collation co ON co.oid = a.attcollation AND a.attcollation <> 0
          WHERE n.nspname = 'public' AND c.relkind IN ('r', 'p') AND a.attnum > 0 AND NOT a.attisdropped`,
  },
  {
    kind: "enum",
    sql: `SELECT t.typname AS key, string_agg(quote_literal(e.enumlabel), ', ' ORDER BY e.enumlabel) AS value
          FROM pg_type t JOIN pg_enum e ON e.enumtypid = t.oid JOIN pg_namespace n ON n.oid = t.typnamespace
          WHERE n.nspname = 'public' GROUP BY t.typname`,
  },
  {
    kind: "index",
    sql: `SELECT indexname AS key, indexdef AS value FROM pg_indexes WHERE schemaname = 'public'`,
  },
  {
    kind: "constraint",
    sql: `SELECT format('%I.%I', c.relname, k.conname) AS key,
                 k.contype::text || ' ' || pg_get_constraintdef(k.oid, true) AS value
          FROM pg_constraint k JOIN pg_class c ON c.oid = k.conrelid JOIN pg_namespace n ON n.oid = k.connamespace
          -- NOT NULL (PostgreSQL 18 lists them here) is already part of each column, and
          -- its auto-generated name would differ after a hand-written column rename.
          WHERE n.nspname = 'public' AND k.contype <> 'n'`,
  },
  {
    kind: "sequence",
    sql: `SELECT sequencename AS key, format('%s start %s increment %s', data_type, start_value, increment_by) AS value
          FROM pg_sequences WHERE schemaname = 'public'`,
  },
  {
    kind: "trigger",
    sql: `SELECT format('%I.%I', c.relname, t.tgname) AS key, pg_get_triggerdef(t.oid) AS value
          FROM pg_trigger t JOIN pg_class c ON c.oid = t.tgrelid JOIN pg_namespace n ON n.oid = c.relnamespace
          WHERE n.nspname = 'public' AND NOT t.tgisinternal`,
  },
  {
    kind: "function",
    sql: `SELECT p.oid::regprocedure::text AS key, md5(pg_get_functiondef(p.oid)) AS value
          FROM pg_proc p JOIN pg_namespace n ON n.oid = p.pronamespace
          WHERE n.nspname = 'public' AND p.prokind IN ('f', 'p')`,
  },
  {
    kind: "extension",
    sql: `SELECT extname AS key, '' AS value FROM pg_extension WHERE extname <> 'plpgsql'`,
  },
];

/** `ignoreTables` drops those tables and everything on them (e.g. `_prisma_migrations`). */
export async function readCatalog(url: string, options: { ignoreTables?: string[] } = {}): Promise<Catalog> {
  const ignored = new Set(options.ignoreTables ?? []);
  const ignoredName = (key: string): boolean => {
    const table = key.split(".")[0]?.replace(/^"|"$/g, "") ?? "";
    return ignored.has(table) || ignored.has(key);
  };
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  try {
    const catalog: Catalog = new Map();
    for (const { kind, sql } of QUERIES) {
      const { rows } = await client.query<{ key: string; value: string }>(sql);
      for (const { key, value } of rows) {
        if (ignoredName(key)) continue;
        if (kind === "index" && [...ignored].some((table) => value.includes(` ON public.${table} `))) continue;
        if (kind === "sequence" && [...ignored].some((table) => key.startsWith(`${table}_`))) continue;
        catalog.set(`${kind} ${key}`, value);
      }
    }
    return catalog;
  } finally {
    await client.end();
  }
}

/** Human-readable differences, one line each; empty when the catalogs are equal. */
export function diffCatalogs(
  left: Catalog,
  right: Catalog,
  labels: { left: string; right: string } = { left: "left", right: "right" },
): string[] {
  const lines: string[] = [];
  const keys = [...new Set([...left.keys(), ...right.keys()])].sort();
  for (const key of keys) {
    const a = left.get(key);
    const b = right.get(key);
    if (a === b) continue;
    if (b === undefined) lines.push(`${key}: only in ${labels.left}: ${a}`);
    else if (a === undefined) lines.push(`${key}: only in ${labels.right}: ${b}`);
    else lines.push(`${key}: ${labels.left} has ${a} | ${labels.right} has ${b}`);
  }
  return lines;
}
