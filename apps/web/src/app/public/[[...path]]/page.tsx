import type { Metadata } from "next";
import Link from "next/link";
import { ChevronRight, Cloud, Download, File, Folder, Globe } from "lucide-react";
import { publicListing } from "@cumulus/control/admin/public";
import { ANONYMOUS } from "@cumulus/control/gateway/gateway";
import { decideIp, ipDeniedError } from "@cumulus/control/ip-rules/ip-rules";
import { clientIpFromHeaders } from "@cumulus/control/ip-rules/client-ip";
import { AppError } from "@cumulus/protocol/errors";
import { headers } from "next/headers";
import { ctx } from "@/server/context.ts";
import { pathFromSegments } from "@/app/api/gateway/path-param.ts";
import { Refused } from "@/components/shell/refused.tsx";
import { formatBytes, formatDate } from "@/components/ui/format.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Public files" };

function href(base: string, path: string): string {
  return base + path.split("/").map(encodeURIComponent).join("/");
}

/**
 * The anonymous public area: read-only listing of what admins marked public (and the
 * folders leading to it). Downloads go through the streaming gateway
 * (/api/gateway/files/…), which serves public entries without an account.
 */
export default async function PublicPage({ params }: { params: Promise<{ path?: string[] }> }) {
  const { path: segments = [] } = await params;
  // Segments arrive decoded or not depending on how the page was reached: see path-param.ts.
  const path = await pathFromSegments(ANONYMOUS, segments);
  const ip = clientIpFromHeaders(await headers());
  const decision = await decideIp(ctx().prisma, null, ip);
  if (!decision.allowed) return <Refused message={ipDeniedError(ip).message} />;

  let listing: Awaited<ReturnType<typeof publicListing>> | null = null;
  let problem: string | null = null;
  try {
    listing = await publicListing(ctx(), { path });
  } catch (err) {
    if (
      err instanceof AppError &&
      (err.code === "NOT_FOUND" || err.code === "FORBIDDEN" || err.code.startsWith("INVALID"))
    ) {
      problem = `Nothing public at ${path}.`;
    } else {
      throw err;
    }
  }
  const crumbs = path === "/" ? [] : path.split("/").filter(Boolean);
  return (
    <div className="min-h-screen">
      <header className="flex h-14 items-center justify-between border-b border-slate-200 bg-white px-4">
        <Link href="/public" className="flex items-center gap-2 font-semibold">
          <Cloud className="size-6 text-sky-600" aria-hidden /> Cumulus{" "}
          <span className="font-normal text-slate-500">· Public files</span>
        </Link>
        <Link href="/sign-in" className="text-sm text-sky-700 hover:underline">
          Sign in
        </Link>
      </header>
      <main className="mx-auto max-w-4xl px-4 py-8">
        <nav aria-label="Breadcrumb" className="mb-4 flex flex-wrap items-center gap-1 text-sm">
          <Link href="/public" className="flex items-center gap-1 text-sky-700 hover:underline">
            <Globe className="size-4" aria-hidden /> Public
          </Link>
          {crumbs.map((c, i) => (
            <span key={i} className="flex items-center gap-1">
              <ChevronRight className="size-3 text-slate-400" aria-hidden />
              <Link
                href={href("/public", "/" + crumbs.slice(0, i + 1).join("/"))}
                className="text-sky-700 hover:underline"
              >
                {c}
              </Link>
            </span>
          ))}
        </nav>
        <h1 className="mb-6 text-2xl font-semibold tracking-tight">
          {path === "/" ? "Public files" : crumbs[crumbs.length - 1]}
        </h1>
        {problem || !listing ? (
          <p role="alert" className="rounded-lg border border-amber-200 bg-amber-50 p-4 text-sm text-amber-900">
            {problem}
          </p>
        ) : listing.entries.length === 0 ? (
          <p className="rounded-xl border border-dashed border-slate-300 p-8 text-center text-sm text-slate-500">
            {path === "/" ? "Nothing has been made public." : "This folder is empty."}
          </p>
        ) : (
          <div className="overflow-x-auto rounded-xl border border-slate-200 bg-white shadow-sm">
            <table className="w-full text-left text-sm">
              <caption className="sr-only">Contents of {path}</caption>
              <thead className="bg-slate-50 text-xs uppercase tracking-wide text-slate-600">
                <tr>
                  <th className="px-4 py-2 font-medium">Name</th>
                  <th className="px-4 py-2 font-medium">Size</th>
                  <th className="px-4 py-2 font-medium">Modified</th>
                  <th className="px-4 py-2">
                    <span className="sr-only">Download</span>
                  </th>
                </tr>
              </thead>
              <tbody>
                {listing.entries.map((e) => (
                  <tr key={e.id} className="border-t border-slate-100">
                    <td className="px-4 py-2">
                      {e.type === "folder" ? (
                        <Link
                          href={href("/public", e.path)}
                          className="flex items-center gap-2 font-medium text-sky-700 hover:underline"
                        >
                          <Folder className="size-4 text-sky-600" aria-hidden /> {e.name}
                        </Link>
                      ) : (
                        <a
                          href={href("/api/gateway/files", e.path)}
                          className="flex items-center gap-2 text-slate-800 hover:underline"
                        >
                          <File className="size-4 text-slate-400" aria-hidden /> {e.name}
                        </a>
                      )}
                    </td>
                    <td className="px-4 py-2 text-slate-600">{e.type === "file" ? formatBytes(e.size) : "—"}</td>
                    <td className="px-4 py-2 text-slate-500">{formatDate(e.modifiedAt)}</td>
                    <td className="px-4 py-2 text-right">
                      {e.readable ? (
                        <a
                          href={`${href("/api/gateway/files", e.path)}?download=1`}
                          className="inline-flex items-center gap-1 rounded-md px-2 py-1 text-sky-700 hover:bg-sky-50"
                          aria-label={`Download ${e.name}${e.type === "folder" ? " as a zip" : ""}`}
                        >
                          <Download className="size-4" aria-hidden />
                        </a>
                      ) : null}
                    </td>
                  </tr>
                ))}
              </tbody>
            </table>
          </div>
        )}
      </main>
    </div>
  );
}
