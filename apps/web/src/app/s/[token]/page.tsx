import type { Metadata } from "next";
import { cookies, headers } from "next/headers";
import Link from "next/link";
import type { ReactNode } from "react";
import { Clock, Cloud, Download, Folder, Lock, ShieldAlert, XCircle } from "lucide-react";
import { AppError } from "@cumulus/protocol/errors";
import {
  linkGrantValid,
  listLinkFolder,
  openShareLink,
  type LinkListing,
  type LinkState,
  type OpenLink,
} from "@cumulus/control/shares/links";
import { decideIp } from "@cumulus/control/ip-rules/ip-rules";
import { clientIpFromHeaders } from "@cumulus/control/ip-rules/client-ip";
import { ctx } from "@/server/context.ts";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Alert } from "@/components/ui/feedback.tsx";
import { EntryIcon } from "@/components/files/file-list.tsx";
import { formatBytes, formatDate } from "@/components/files/format.ts";
import { linkCookieName } from "@/app/api/gateway/link-cookie.ts";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Shared with you", robots: { index: false, follow: false } };

type Props = {
  params: Promise<{ token: string }>;
  searchParams: Promise<Record<string, string | string[] | undefined>>;
};

function Shell({ children }: { children: ReactNode }) {
  return (
    <main className="flex min-h-screen flex-col items-center bg-gradient-to-b from-sky-50 to-slate-50 px-4 py-12">
      <div className="mb-8 flex items-center gap-2 text-slate-700">
        <Cloud className="size-7 text-sky-600" aria-hidden />
        <span className="text-lg font-semibold tracking-tight">Cumulus</span>
      </div>
      <div className="w-full max-w-2xl rounded-xl border border-slate-200 bg-white p-6 shadow-sm">{children}</div>
      <p className="mt-6 text-center text-xs text-slate-500">
        Shared with a Cumulus link. Only people with the link can open it.
      </p>
    </main>
  );
}

function Message({ icon, title, text }: { icon: ReactNode; title: string; text: string }) {
  return (
    <Shell>
      <div role="alert" className="flex flex-col items-center gap-3 py-6 text-center">
        {icon}
        <h1 className="text-xl font-semibold text-slate-900">{title}</h1>
        <p className="max-w-md text-sm text-slate-600">{text}</p>
      </div>
    </Shell>
  );
}

const STATE_MESSAGE: Record<Exclude<LinkState, "ok">, { title: string; text: string; icon: ReactNode }> = {
  expired: {
    title: "This link has expired",
    text: "The person who shared it set an expiry date that has passed. Ask them for a new link.",
    icon: <Clock className="size-10 text-amber-500" aria-hidden />,
  },
  revoked: {
    title: "This link was revoked",
    text: "The person who shared it turned it off. Ask them for a new link if you still need the file.",
    icon: <XCircle className="size-10 text-rose-500" aria-hidden />,
  },
  exhausted: {
    title: "This link has reached its download limit",
    text: "It could be downloaded only a limited number of times, and that many downloads have happened. Ask for a new link.",
    icon: <XCircle className="size-10 text-amber-500" aria-hidden />,
  },
  missing: {
    title: "What this link shared is gone",
    text: "The file or folder was deleted or moved to the trash.",
    icon: <XCircle className="size-10 text-slate-400" aria-hidden />,
  },
};

function gatewayUrl(token: string, path?: string, download = true): string {
  const q = new URLSearchParams();
  if (path && path !== "/") q.set("path", path);
  if (download) q.set("download", "1");
  const qs = q.toString();
  return `/api/gateway/s/${encodeURIComponent(token)}${qs ? `?${qs}` : ""}`;
}

function limitNote(open: OpenLink): string | null {
  const parts: string[] = [];
  if (open.link.maxDownloads !== null) {
    const left = Math.max(0, open.link.maxDownloads - open.link.downloadCount);
    parts.push(`${left} download${left === 1 ? "" : "s"} left`);
  }
  if (open.link.expiresAt) parts.push(`expires ${formatDate(open.link.expiresAt.toISOString())}`);
  return parts.length ? parts.join(" · ") : null;
}

/** /s/<token>: the public page of a share link. */
export default async function SharedLinkPage({ params, searchParams }: Props) {
  const [{ token }, sp] = await Promise.all([params, searchParams]);
  const h = new Headers(await headers());
  const ip = clientIpFromHeaders(h);
  if (!(await decideIp(ctx().prisma, null, ip)).allowed) {
    return (
      <Message
        icon={<ShieldAlert className="size-10 text-rose-600" aria-hidden />}
        title="Access refused"
        text="Your network address is not allowed to open Cumulus links."
      />
    );
  }
  let open: OpenLink;
  try {
    open = await openShareLink(ctx(), token);
  } catch (err) {
    if (err instanceof AppError && err.code === "NOT_FOUND") {
      return (
        <Message
          icon={<XCircle className="size-10 text-slate-400" aria-hidden />}
          title="Link not found"
          text="This link does not exist. Check that you copied all of it."
        />
      );
    }
    throw err;
  }
  if (open.state !== "ok") {
    const m = STATE_MESSAGE[open.state];
    return <Message icon={m.icon} title={m.title} text={m.text} />;
  }
  const grant = (await cookies()).get(linkCookieName(token))?.value ?? null;
  if (open.needsPassword && !(await linkGrantValid(ctx(), grant, open.link.id))) {
    const error = typeof sp.error === "string" ? sp.error : null;
    return (
      <Shell>
        <form
          method="post"
          action={`/api/gateway/s/${encodeURIComponent(token)}`}
          className="mx-auto grid max-w-sm gap-4 py-4"
        >
          <div className="flex flex-col items-center gap-2 text-center">
            <Lock className="size-9 text-sky-600" aria-hidden />
            <h1 className="text-xl font-semibold text-slate-900">This link is protected by a password</h1>
            <p className="text-sm text-slate-600">Enter the password you were given to open it.</p>
          </div>
          <div className="grid gap-1.5">
            <Label htmlFor="link-password">Password</Label>
            <Input
              id="link-password"
              name="password"
              type="password"
              autoComplete="off"
              autoFocus
              required
              aria-invalid={error ? true : undefined}
            />
          </div>
          {error ? <Alert variant="error">{error}</Alert> : null}
          <Button type="submit">Open</Button>
        </form>
      </Shell>
    );
  }

  const note = limitNote(open);
  if (open.entry.type === "file") {
    return (
      <Shell>
        <div className="flex flex-col items-center gap-4 py-4 text-center">
          <EntryIcon entry={open.entry} className="size-12" />
          <div>
            <h1 className="break-all text-xl font-semibold text-slate-900">{open.entry.name}</h1>
            <p className="mt-1 text-sm text-slate-600" data-testid="link-size">
              {formatBytes(Number(open.entry.size))} · {Number(open.entry.size).toLocaleString("en")} bytes
            </p>
            {note ? <p className="mt-1 text-xs text-slate-500">{note}</p> : null}
          </div>
          <Button asChild size="lg">
            <a href={gatewayUrl(token)} download>
              <Download aria-hidden /> Download
            </a>
          </Button>
        </div>
      </Shell>
    );
  }

  const sub = typeof sp.path === "string" && sp.path.startsWith("/") ? sp.path : "/";
  let listing: LinkListing | null = null;
  let problem: string | null = null;
  try {
    listing = await listLinkFolder(ctx(), open, sub);
  } catch (err) {
    problem = err instanceof AppError ? err.message : "this folder cannot be shown";
  }
  const crumbs = sub.split("/").filter(Boolean);
  return (
    <Shell>
      <div className="grid gap-4">
        <div className="flex flex-wrap items-start gap-3">
          <Folder className="mt-1 size-8 fill-sky-100 text-sky-600" aria-hidden />
          <div className="min-w-0 flex-1">
            <h1 className="break-all text-xl font-semibold text-slate-900">{open.entry.name}</h1>
            <nav aria-label="Breadcrumbs" className="mt-1 flex flex-wrap gap-1 text-sm text-slate-600">
              <Link href={`/s/${encodeURIComponent(token)}`} className="hover:underline">
                {open.entry.name}
              </Link>
              {crumbs.map((c, i) => (
                <span key={i}>
                  {" / "}
                  <Link
                    href={`/s/${encodeURIComponent(token)}?path=${encodeURIComponent("/" + crumbs.slice(0, i + 1).join("/"))}`}
                    className="hover:underline"
                  >
                    {c}
                  </Link>
                </span>
              ))}
            </nav>
            {note ? <p className="mt-1 text-xs text-slate-500">{note}</p> : null}
          </div>
          <Button asChild>
            <a href={gatewayUrl(token, sub)} download>
              <Download aria-hidden /> Download {sub === "/" ? "all" : "folder"} (.zip)
            </a>
          </Button>
        </div>
        {problem ? (
          <Alert variant="error">{problem}</Alert>
        ) : listing && listing.entries.length === 0 ? (
          <p className="py-6 text-center text-sm text-slate-500">This folder is empty.</p>
        ) : listing ? (
          <ul className="divide-y divide-slate-100 rounded-lg border border-slate-200" aria-label="Contents">
            {listing.entries.map((e) => (
              <li key={e.path} aria-label={e.name} className="flex items-center gap-3 px-3 py-2 text-sm">
                <EntryIcon entry={e} />
                {e.type === "folder" ? (
                  <Link
                    href={`/s/${encodeURIComponent(token)}?path=${encodeURIComponent(e.path)}`}
                    className="min-w-0 flex-1 truncate font-medium text-sky-800 hover:underline"
                  >
                    {e.name}
                  </Link>
                ) : (
                  <span className="min-w-0 flex-1 truncate font-medium">{e.name}</span>
                )}
                <span className="w-24 text-right tabular-nums text-slate-600">
                  {e.type === "file" ? formatBytes(e.size) : "—"}
                </span>
                <Button asChild size="sm" variant="ghost" aria-label={`Download ${e.name}`}>
                  <a href={gatewayUrl(token, e.path)} download>
                    <Download aria-hidden />
                  </a>
                </Button>
              </li>
            ))}
          </ul>
        ) : null}
      </div>
    </Shell>
  );
}
