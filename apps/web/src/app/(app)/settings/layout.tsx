import type { ReactNode } from "react";
import { PageHeader } from "@/components/shell/app-shell.tsx";
import { SettingsNav } from "./settings-nav.tsx";

export default function SettingsLayout({ children }: { children: ReactNode }) {
  return (
    <div className="mx-auto max-w-3xl">
      <PageHeader title="Settings" description="Your account, password, sessions and devices." />
      <SettingsNav />
      {children}
    </div>
  );
}
