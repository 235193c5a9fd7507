"use client";

import type { ReactNode } from "react";
import { TrpcReactProvider } from "@/trpc/react.tsx";
import { ToastProvider } from "@/components/ui/toast.tsx";

/** Client-side providers every page shares: tRPC + React Query, toasts. */
export function Providers({ children }: { children: ReactNode }) {
  return (
    <TrpcReactProvider>
      <ToastProvider>{children}</ToastProvider>
    </TrpcReactProvider>
  );
}
