"use client";

import { Toast as ToastPrimitive } from "radix-ui";
import { X } from "lucide-react";
import { createContext, useCallback, useContext, useMemo, useState, type ReactNode } from "react";
import { cn } from "./cn.ts";

export type ToastInput = {
  title: string;
  description?: string;
  /** "error" toasts are announced assertively and stay longer. */
  variant?: "default" | "success" | "error";
};

type ToastItem = ToastInput & { id: number };

const ToastContext = createContext<((t: ToastInput) => void) | null>(null);

let nextId = 1;

/** Mount once near the root; then `const toast = useToast(); toast({ title: "Saved" })`. */
export function ToastProvider({ children }: { children: ReactNode }) {
  const [items, setItems] = useState<ToastItem[]>([]);
  const push = useCallback((t: ToastInput) => {
    const id = nextId++;
    setItems((list) => [...list.slice(-4), { ...t, id }]);
  }, []);
  const remove = (id: number) => setItems((list) => list.filter((t) => t.id !== id));
  return (
    <ToastContext.Provider value={push}>
      <ToastPrimitive.Provider swipeDirection="right" duration={5000}>
        {children}
        {items.map((t) => (
          <ToastPrimitive.Root
            key={t.id}
            type={t.variant === "error" ? "foreground" : "background"}
            duration={t.variant === "error" ? 9000 : 5000}
            onOpenChange={(open) => {
              if (!open) remove(t.id);
            }}
            className={cn(
              "pointer-events-auto relative flex w-full items-start gap-3 rounded-lg border bg-white p-4 pr-9 shadow-lg",
              t.variant === "error" && "border-rose-200 bg-rose-50",
              t.variant === "success" && "border-emerald-200 bg-emerald-50",
              (!t.variant || t.variant === "default") && "border-slate-200",
            )}
          >
            <div className="grid gap-1">
              <ToastPrimitive.Title
                className={cn(
                  "text-sm font-semibold",
                  t.variant === "error"
                    ? "text-rose-800"
                    : t.variant === "success"
                      ? "text-emerald-800"
                      : "text-slate-900",
                )}
              >
                {t.title}
              </ToastPrimitive.Title>
              {t.description ? (
                <ToastPrimitive.Description className="text-sm text-slate-600">
                  {t.description}
                </ToastPrimitive.Description>
              ) : null}
            </div>
            <ToastPrimitive.Close
              aria-label="Dismiss"
              className="absolute right-2 top-2 rounded-md p-1 text-slate-500 hover:bg-white/60 hover:text-slate-900"
            >
              <X className="size-4" aria-hidden />
            </ToastPrimitive.Close>
          </ToastPrimitive.Root>
        ))}
        <ToastPrimitive.Viewport className="fixed bottom-0 right-0 z-[100] m-0 flex w-full max-w-sm list-none flex-col gap-2 p-4 outline-none" />
      </ToastPrimitive.Provider>
    </ToastContext.Provider>
  );
}

/** Shows a toast. Outside a ToastProvider it is a no-op (and says so in development). */
export function useToast(): (t: ToastInput) => void {
  const push = useContext(ToastContext);
  return useMemo(
    () =>
      push ??
      ((t: ToastInput) => {
        if (process.env.NODE_ENV !== "production") console.warn("useToast outside ToastProvider:", t.title);
      }),
    [push],
  );
}
