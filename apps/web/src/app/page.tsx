import { redirect } from "next/navigation";
import { pageAuth } from "@/server/auth.ts";

export const dynamic = "force-dynamic";

/** "/": the files when signed in, else the sign-in page. (Cluster status is on /admin.) */
export default async function Home() {
  const auth = await pageAuth();
  redirect(auth.state === "signed-in" ? "/files" : "/sign-in");
}
