import type { Metadata } from "next";
import { NodeDetailView } from "./node-detail.tsx";

export const metadata: Metadata = { title: "Storage node" };

export default async function NodePage({ params }: { params: Promise<{ id: string }> }) {
  const { id } = await params;
  return <NodeDetailView id={id} />;
}
