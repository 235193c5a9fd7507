import { ShieldAlert } from "lucide-react";

/** Full-page refusal (e.g. an address the IP rules deny). */
export function Refused({ title = "Access refused", message }: { title?: string; message: string }) {
  return (
    <main className="flex min-h-screen items-center justify-center px-4">
      <div role="alert" className="max-w-md rounded-xl border border-rose-200 bg-white p-6 text-center shadow-sm">
        <ShieldAlert className="mx-auto mb-3 size-8 text-rose-600" aria-hidden />
        <h1 className="text-lg font-semibold text-slate-900">{title}</h1>
        <p className="mt-2 text-sm text-slate-600">{message}</p>
      </div>
    </main>
  );
}
