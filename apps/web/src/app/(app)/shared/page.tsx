import type { Metadata } from "next";
import { SharedView } from "@/components/files/shared-view.tsx";

export const metadata: Metadata = { title: "Shared with me" };

export default function SharedPage() {
  return <SharedView />;
}
