import type { inferRouterOutputs } from "@trpc/server";
import type { AppRouter } from "@/server/routers/root.ts";

type Outputs = inferRouterOutputs<AppRouter>;

export type Listing = Outputs["files"]["list"];
export type FileEntry = Listing["entries"][number];
export type Stat = Outputs["files"]["stat"];
export type PermissionName = Listing["permission"];
export type TrashItem = Outputs["files"]["trash"]["items"][number];
export type SharedItem = Outputs["shares"]["sharedWithMe"]["items"][number];
export type Grants = Outputs["shares"]["grants"];
export type LinkSummary = Outputs["shares"]["links"]["links"][number];

export const PERMISSION_RANK: Record<PermissionName, number> = { none: 0, read: 1, write: 2, manage: 3 };

export function can(p: PermissionName | undefined, need: "read" | "write" | "manage"): boolean {
  return PERMISSION_RANK[p ?? "none"] >= PERMISSION_RANK[need];
}
