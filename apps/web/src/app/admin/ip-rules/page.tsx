import type { Metadata } from "next";
import { IpRulesView } from "./ip-rules-view.tsx";

export const metadata: Metadata = { title: "IP rules" };

export default function IpRulesPage() {
  return <IpRulesView />;
}
