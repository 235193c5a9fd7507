import type { Metadata } from "next";
import { PublicAdminView } from "./public-view.tsx";

export const metadata: Metadata = { title: "Public area" };

export default function PublicAdminPage() {
  return <PublicAdminView />;
}
