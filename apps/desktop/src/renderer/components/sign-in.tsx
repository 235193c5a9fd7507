import { Cloud, LogIn } from "lucide-react";
import { useState, type FormEvent } from "react";
import type { AgentStatus } from "@cumulus/protocol/agent";
import type { AgentClient } from "../../shared/agent-client.ts";
import { Button, ErrorNote, Field, inputClass } from "./ui.tsx";

export function SignIn({
  client,
  status,
  onStatus,
}: {
  client: AgentClient;
  status: AgentStatus;
  onStatus: (s: AgentStatus) => void;
}) {
  const [server, setServer] = useState(status.server ?? "");
  const [email, setEmail] = useState(status.user ?? "");
  const [password, setPassword] = useState("");
  const [busy, setBusy] = useState(false);
  const [error, setError] = useState<string | null>(null);

  async function submit(e: FormEvent) {
    e.preventDefault();
    setBusy(true);
    setError(null);
    try {
      onStatus(await client.signIn({ server: server.trim(), email: email.trim(), password }));
      setPassword("");
    } catch (err) {
      setError((err as Error).message);
    } finally {
      setBusy(false);
    }
  }

  return (
    <div className="flex min-h-full items-center justify-center p-6">
      <form onSubmit={submit} className="w-full max-w-sm space-y-4" aria-labelledby="sign-in-title">
        <div className="flex flex-col items-center gap-2 pb-2 text-center">
          <span className="rounded-2xl bg-sky-600 p-3 text-white shadow-sm">
            <Cloud className="size-7" aria-hidden />
          </span>
          <h1 id="sign-in-title" className="text-lg font-semibold">
            Sign in to Cumulus
          </h1>
          <p className="text-sm text-slate-500">This device gets its own token; your password is not stored.</p>
        </div>
        <Field label="Server URL">
          <input
            className={inputClass}
            type="url"
            required
            placeholder="https://cumulus.example.com"
            value={server}
            onChange={(e) => setServer(e.target.value)}
            autoComplete="url"
          />
        </Field>
        <Field label="Email">
          <input
            className={inputClass}
            type="email"
            required
            value={email}
            onChange={(e) => setEmail(e.target.value)}
            autoComplete="username"
          />
        </Field>
        <Field label="Password">
          <input
            className={inputClass}
            type="password"
            required
            value={password}
            onChange={(e) => setPassword(e.target.value)}
            autoComplete="current-password"
          />
        </Field>
        <ErrorNote message={error} />
        <Button type="submit" variant="primary" className="w-full" disabled={busy}>
          <LogIn className="size-4" aria-hidden />
          {busy ? "Signing in…" : "Sign in"}
        </Button>
      </form>
    </div>
  );
}
