import type { Metadata } from "next";
import { PoliciesView } from "./policies-view.tsx";

export const metadata: Metadata = { title: "Replication policies" };

export default async function PoliciesPage({
  searchParams,
}: {
  searchParams: Promise<Record<string, string | string[] | undefined>>;
}) {
  const sp = await searchParams;
  const path = typeof sp["path"] === "string" && sp["path"].startsWith("/") ? sp["path"] : null;
  return <PoliciesView initialPath={path} />;
}
