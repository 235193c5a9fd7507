import type { Metadata } from "next";
import { AccountSettings } from "./account-settings.tsx";

export const metadata: Metadata = { title: "Settings" };

export default function SettingsPage() {
  return <AccountSettings />;
}
