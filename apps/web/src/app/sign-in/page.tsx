import type { Metadata } from "next";
import { redirect } from "next/navigation";
import { Cloud } from "lucide-react";
import { pageAuth } from "@/server/auth.ts";
import { SignInForm } from "./sign-in-form.tsx";

export const dynamic = "force-dynamic";
export const metadata: Metadata = { title: "Sign in" };

/** Only same-site paths: never an open redirect. */
function safeNext(next: string | string[] | undefined): string {
  const n = Array.isArray(next) ? next[0] : next;
  return n && n.startsWith("/") && !n.startsWith("//") && !n.startsWith("/\\") ? n : "/files";
}

export default async function SignInPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const sp = await searchParams;
  const next = safeNext(sp["next"]);
  const auth = await pageAuth();
  if (auth.state === "signed-in") redirect(next);
  return (
    <main className="flex min-h-screen items-center justify-center bg-gradient-to-b from-sky-50 to-slate-50 px-4 py-12">
      <div className="w-full max-w-sm">
        <div className="mb-6 flex flex-col items-center gap-2 text-center">
          <Cloud className="size-10 text-sky-600" aria-hidden />
          <h1 className="text-2xl font-semibold tracking-tight">Sign in to Cumulus</h1>
          <p className="text-sm text-slate-500">Your company&apos;s private file cloud</p>
        </div>
        <div className="rounded-xl border border-slate-200 bg-white p-6 shadow-sm">
          <SignInForm next={next} />
        </div>
        <p className="mt-6 text-center text-xs text-slate-500">
          Accounts are created by your administrator. Forgot your password? Ask them to reset it.
        </p>
      </div>
    </main>
  );
}
