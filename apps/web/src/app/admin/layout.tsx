import type { ReactNode } from "react";
import { redirect } from "next/navigation";
import { AppShell } from "@/components/shell/app-shell.tsx";
import { Refused } from "@/components/shell/refused.tsx";
import { pageAuth } from "@/server/auth.ts";

export const dynamic = "force-dynamic";

/** Administration: admins only (the tRPC procedures check again on every call). */
export default async function AdminLayout({ children }: { children: ReactNode }) {
  const auth = await pageAuth();
  if (auth.state === "signed-out") redirect("/sign-in?next=/admin");
  if (auth.state === "refused") return <Refused message={auth.message} />;
  const { name, email, role } = auth.user;
  if (role !== "admin") {
    return (
      <AppShell user={{ name, email, role }}>
        <div
          role="alert"
          className="mx-auto mt-10 max-w-md rounded-xl border border-amber-200 bg-amber-50 p-6 text-center"
        >
          <h1 className="text-lg font-semibold text-amber-900">Administrators only</h1>
          <p className="mt-2 text-sm text-amber-800">
            Your account ({email}) is not an administrator. Ask an administrator if you need access.
          </p>
        </div>
      </AppShell>
    );
  }
  return <AppShell user={{ name, email, role }}>{children}</AppShell>;
}
