import type { ReactNode } from "react";
import { UploadProvider } from "@/components/files/uploads.tsx";

/** Uploads keep running (and their panel stays) while the user moves between folders. */
export default function FilesLayout({ children }: { children: ReactNode }) {
  return <UploadProvider>{children}</UploadProvider>;
}
