import type { Metadata } from "next";
import { Overview } from "./overview.tsx";

export const metadata: Metadata = { title: "Admin" };

export default function AdminPage() {
  return <Overview />;
}
