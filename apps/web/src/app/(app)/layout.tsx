import type { ReactNode } from "react";
import { redirect } from "next/navigation";
import { AppShell } from "@/components/shell/app-shell.tsx";
import { Refused } from "@/components/shell/refused.tsx";
import { pageAuth } from "@/server/auth.ts";

export const dynamic = "force-dynamic";

/** The signed-in app: everything under it needs a session (else → /sign-in). */
export default async function AppLayout({ children }: { children: ReactNode }) {
  const auth = await pageAuth();
  if (auth.state === "signed-out") redirect("/sign-in");
  if (auth.state === "refused") return <Refused message={auth.message} />;
  const { name, email, role } = auth.user;
  return <AppShell user={{ name, email, role }}>{children}</AppShell>;
}
