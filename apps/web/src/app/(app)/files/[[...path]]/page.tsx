import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { LEVEL } from "@cumulus/control/access/access";
import { listFolder } from "@cumulus/control/fs/list";
import { whoami } from "@cumulus/control/fs/home";
import { lookup } from "@cumulus/control/fs/tree";
import { listFirstEntries } from "@cumulus/control/fs/list-page";
import { ctx } from "@/server/context.ts";
import { pageAuth } from "@/server/auth.ts";
import { FileBrowser } from "@/components/files/file-browser.tsx";
import { filesHref } from "@/components/files/format.ts";
import { pathFromSegments } from "@/app/api/gateway/path-param.ts";
import type { Listing } from "@/components/files/types.ts";

export const dynamic = "force-dynamic";

/** Rows rendered on the server: the first screen, whatever the folder's size. */
const FIRST_SCREEN = 60;
const LEVEL_NAMES = ["none", "read", "write", "manage"] as const;

type Props = {
  params: Promise<{ path?: string[] }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
};

export async function generateMetadata({ params }: Props): Promise<Metadata> {
  const { path } = await params;
  const last = path?.at(-1);
  let title = last ?? "Files";
  try {
    title = last ? decodeURIComponent(last) : title;
  } catch {
    // keep it as is
  }
  return { title };
}

/** /files/<path>: the file browser of that folder. /files alone opens the user's home. */
export default async function FilesPage({ params, searchParams }: Props) {
  const [{ path: parts }, sp] = await Promise.all([params, searchParams]);
  const q = typeof sp.q === "string" ? sp.q.trim() : "";
  if (q) redirect(`/search?q=${encodeURIComponent(q)}`);
  const auth = await pageAuth();
  if (auth.state !== "signed-in") redirect("/sign-in");
  const user = auth.user;
  if (!parts || parts.length === 0) {
    if (user.role !== "admin") redirect(filesHref((await whoami(ctx(), user)).home));
  }
  const path = await pathFromSegments(user, parts);
  let initial: Listing | null = null;
  try {
    // Only the first screen: a 10,000-entry folder is fetched in full by the page itself.
    const first = await listFirstEntries(ctx(), user, { path, limit: FIRST_SCREEN });
    if (first) {
      const { total, level, ...listing } = first;
      initial = { ...listing, permission: LEVEL_NAMES[level]!, total };
    } else {
      const [listing, l] = await Promise.all([listFolder(ctx(), user, { path }), lookup(ctx().prisma, user, path)]);
      const level = l.levels[l.levels.length - 1] ?? LEVEL.none;
      initial = {
        ...listing,
        entries: listing.entries.slice(0, FIRST_SCREEN),
        permission: LEVEL_NAMES[level]!,
        total: listing.entries.length,
      };
    }
  } catch {
    // The client shows the error (not found, no access) with its retry.
  }
  return <FileBrowser key={path} path={path} initial={initial} />;
}
