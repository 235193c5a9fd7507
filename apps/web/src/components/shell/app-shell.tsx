"use client";

import Link from "next/link";
import { usePathname, useRouter } from "next/navigation";
import { useEffect, useState, type ReactNode } from "react";
import {
  Cloud,
  FolderOpen,
  LayoutDashboard,
  ListChecks,
  LogOut,
  Menu,
  Network,
  Globe,
  Search,
  Settings,
  Shield,
  ShieldCheck,
  Trash2,
  UserRound,
  Users,
  UsersRound,
  X,
} from "lucide-react";
import {
  DropdownMenu,
  DropdownMenuContent,
  DropdownMenuItem,
  DropdownMenuLabel,
  DropdownMenuSeparator,
  DropdownMenuTrigger,
} from "@/components/ui/dropdown-menu.tsx";
import { cn } from "@/components/ui/cn.ts";
import { signOut } from "./sign-out.ts";

export type ShellUser = { name: string; email: string; role: "admin" | "user" };

type NavItem = { href: string; label: string; icon: ReactNode; exact?: boolean };

const MAIN: NavItem[] = [
  { href: "/files", label: "Files", icon: <FolderOpen aria-hidden /> },
  { href: "/shared", label: "Shared with me", icon: <Users aria-hidden /> },
  { href: "/trash", label: "Trash", icon: <Trash2 aria-hidden /> },
];

const ADMIN: NavItem[] = [
  { href: "/admin", label: "Overview", icon: <LayoutDashboard aria-hidden />, exact: true },
  { href: "/admin/users", label: "Users", icon: <UserRound aria-hidden /> },
  { href: "/admin/groups", label: "Groups", icon: <UsersRound aria-hidden /> },
  { href: "/admin/ip-rules", label: "IP rules", icon: <Network aria-hidden /> },
  { href: "/admin/policies", label: "Policies", icon: <ShieldCheck aria-hidden /> },
  { href: "/admin/public", label: "Public area", icon: <Globe aria-hidden /> },
  { href: "/admin/audit", label: "Audit log", icon: <ListChecks aria-hidden /> },
];

function isActive(pathname: string, item: NavItem): boolean {
  if (item.exact) return pathname === item.href;
  return pathname === item.href || pathname.startsWith(`${item.href}/`);
}

function NavLink({ item, pathname, onNavigate }: { item: NavItem; pathname: string; onNavigate?: () => void }) {
  const active = isActive(pathname, item);
  return (
    <Link
      href={item.href}
      // Every page here is dynamic: a viewport prefetch renders each nav target's layout on
      // the server (twice) on every page view, competing with the page's own data.
      prefetch={false}
      onClick={onNavigate}
      aria-current={active ? "page" : undefined}
      className={cn(
        "flex items-center gap-2.5 rounded-md px-3 py-2 text-sm font-medium text-slate-600 transition-colors hover:bg-slate-100 hover:text-slate-900 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500 [&_svg]:size-4 [&_svg]:shrink-0",
        active && "bg-sky-50 text-sky-800 hover:bg-sky-100 hover:text-sky-900",
      )}
    >
      {item.icon}
      {item.label}
    </Link>
  );
}

function Sidebar({ user, pathname, onNavigate }: { user: ShellUser; pathname: string; onNavigate?: () => void }) {
  const inAdmin = pathname === "/admin" || pathname.startsWith("/admin/");
  return (
    <nav aria-label="Main" className="flex flex-col gap-1 p-3">
      {MAIN.map((item) => (
        <NavLink key={item.href} item={item} pathname={pathname} onNavigate={onNavigate} />
      ))}
      {user.role === "admin" ? (
        <NavLink
          item={{ href: "/admin", label: "Admin", icon: <Shield aria-hidden /> }}
          pathname={inAdmin ? "/admin" : pathname}
          onNavigate={onNavigate}
        />
      ) : null}
      {user.role === "admin" && inAdmin ? (
        <div className="mt-1 flex flex-col gap-0.5 border-l border-slate-200 pl-2 ml-4" aria-label="Administration">
          {ADMIN.map((item) => (
            <NavLink key={item.href} item={item} pathname={pathname} onNavigate={onNavigate} />
          ))}
        </div>
      ) : null}
      <div className="my-2 h-px bg-slate-200" />
      <NavLink
        item={{ href: "/settings", label: "Settings", icon: <Settings aria-hidden /> }}
        pathname={pathname}
        onNavigate={onNavigate}
      />
    </nav>
  );
}

/** The default search box: opens the search page (`/search?q=`). */
function SearchBox() {
  const router = useRouter();
  const [q, setQ] = useState("");
  return (
    <form
      role="search"
      className="relative hidden w-full max-w-md sm:block"
      onSubmit={(e) => {
        e.preventDefault();
        const term = q.trim();
        router.push(term ? `/search?q=${encodeURIComponent(term)}` : "/files");
      }}
    >
      <Search
        className="pointer-events-none absolute left-3 top-1/2 size-4 -translate-y-1/2 text-slate-400"
        aria-hidden
      />
      <input
        type="search"
        aria-label="Search files"
        placeholder="Search files"
        value={q}
        onChange={(e) => setQ(e.target.value)}
        className="h-9 w-full rounded-md border border-slate-200 bg-slate-50 pl-9 pr-3 text-sm placeholder:text-slate-400 focus-visible:border-sky-500 focus-visible:bg-white focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500/30"
      />
    </form>
  );
}

/**
 * The signed-in app: top bar (product, search, user menu), left navigation (a drawer on
 * small screens) and the page. `search` replaces the default search box.
 */
export function AppShell({ user, children, search }: { user: ShellUser; children: ReactNode; search?: ReactNode }) {
  const pathname = usePathname() ?? "/";
  const [open, setOpen] = useState(false);
  useEffect(() => setOpen(false), [pathname]);
  const initials = (user.name || user.email)
    .split(/[\s@.]+/)
    .filter(Boolean)
    .slice(0, 2)
    .map((p) => p[0]!.toUpperCase())
    .join("");
  return (
    <div className="flex min-h-screen flex-col">
      <a
        href="#main"
        className="sr-only focus:not-sr-only focus:fixed focus:left-2 focus:top-2 focus:z-[60] focus:rounded-md focus:bg-white focus:px-3 focus:py-2 focus:shadow"
      >
        Skip to content
      </a>
      <header className="sticky top-0 z-40 flex h-14 items-center gap-3 border-b border-slate-200 bg-white/95 px-3 backdrop-blur sm:px-4">
        <button
          type="button"
          className="rounded-md p-2 text-slate-600 hover:bg-slate-100 md:hidden"
          aria-label={open ? "Close navigation" : "Open navigation"}
          aria-expanded={open}
          aria-controls="sidebar"
          onClick={() => setOpen((o) => !o)}
        >
          {open ? <X className="size-5" aria-hidden /> : <Menu className="size-5" aria-hidden />}
        </button>
        <Link
          href="/files"
          prefetch={false}
          className="flex items-center gap-2 rounded-md pr-2 font-semibold tracking-tight text-slate-900"
        >
          <Cloud className="size-6 text-sky-600" aria-hidden />
          <span>Cumulus</span>
        </Link>
        <div className="flex flex-1 justify-center px-2">{search ?? <SearchBox />}</div>
        <DropdownMenu>
          <DropdownMenuTrigger
            aria-label={`Account menu for ${user.email}`}
            className="flex items-center gap-2 rounded-full p-0.5 pr-2 text-sm text-slate-700 hover:bg-slate-100 focus-visible:outline-none focus-visible:ring-2 focus-visible:ring-sky-500"
          >
            <span
              className="flex size-8 items-center justify-center rounded-full bg-sky-100 text-xs font-semibold text-sky-800"
              aria-hidden
            >
              {initials}
            </span>
            <span className="hidden max-w-40 truncate lg:inline">{user.name}</span>
          </DropdownMenuTrigger>
          <DropdownMenuContent>
            <DropdownMenuLabel>
              <span className="block font-medium text-slate-900">{user.name}</span>
              <span className="block truncate">{user.email}</span>
            </DropdownMenuLabel>
            <DropdownMenuSeparator />
            <DropdownMenuItem asChild>
              <Link href="/settings">
                <Settings aria-hidden /> Settings
              </Link>
            </DropdownMenuItem>
            {user.role === "admin" ? (
              <DropdownMenuItem asChild>
                <Link href="/admin">
                  <Shield aria-hidden /> Admin
                </Link>
              </DropdownMenuItem>
            ) : null}
            <DropdownMenuSeparator />
            <DropdownMenuItem onSelect={() => void signOut()}>
              <LogOut aria-hidden /> Sign out
            </DropdownMenuItem>
          </DropdownMenuContent>
        </DropdownMenu>
      </header>
      <div className="flex flex-1">
        <aside
          id="sidebar"
          className={cn(
            "fixed inset-y-0 left-0 top-14 z-30 w-60 shrink-0 overflow-y-auto border-r border-slate-200 bg-white transition-transform md:sticky md:top-14 md:h-[calc(100vh-3.5rem)] md:translate-x-0",
            open ? "translate-x-0 shadow-xl" : "-translate-x-full",
          )}
        >
          <Sidebar user={user} pathname={pathname} onNavigate={() => setOpen(false)} />
        </aside>
        {open ? (
          <div
            className="fixed inset-0 top-14 z-20 bg-slate-900/30 md:hidden"
            aria-hidden
            onClick={() => setOpen(false)}
          />
        ) : null}
        <main id="main" className="min-w-0 flex-1 px-4 py-6 sm:px-6 lg:px-8">
          {children}
        </main>
      </div>
    </div>
  );
}

/** Page title row: heading, optional description and actions. */
export function PageHeader({
  title,
  description,
  actions,
  back,
}: {
  title: ReactNode;
  description?: ReactNode;
  actions?: ReactNode;
  back?: { href: string; label: string };
}) {
  return (
    <div className="mb-6 flex flex-col gap-3 sm:flex-row sm:items-end sm:justify-between">
      <div className="min-w-0">
        {back ? (
          <Link
            href={back.href}
            prefetch={false}
            className="mb-1 inline-block text-sm text-slate-500 hover:text-slate-800"
          >
            ← {back.label}
          </Link>
        ) : null}
        <h1 className="truncate text-2xl font-semibold tracking-tight text-slate-900">{title}</h1>
        {description ? <p className="mt-1 text-sm text-slate-500">{description}</p> : null}
      </div>
      {actions ? <div className="flex shrink-0 flex-wrap items-center gap-2">{actions}</div> : null}
    </div>
  );
}
