import type { Metadata } from "next";
import { SearchView } from "@/components/files/search-view.tsx";

export const metadata: Metadata = { title: "Search" };

type Props = { searchParams: Promise<Record<string, string | string[] | undefined>> };

export default async function SearchPage({ searchParams }: Props) {
  const sp = await searchParams;
  const q = typeof sp.q === "string" ? sp.q : "";
  const within = typeof sp.within === "string" && sp.within.startsWith("/") ? sp.within : null;
  return <SearchView key={`${q}|${within ?? ""}`} initialQuery={q} within={within} />;
}
