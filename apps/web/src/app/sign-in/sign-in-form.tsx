"use client";

import { useState, type FormEvent } from "react";
import { Button } from "@/components/ui/button.tsx";
import { Input } from "@/components/ui/input.tsx";
import { Label } from "@/components/ui/label.tsx";
import { Spinner } from "@/components/ui/feedback.tsx";

/** The server's refusal, shown as is for ours ("Too many attempts…", "This account is disabled", IP rules). */
function messageFor(status: number, body: { message?: string; code?: string } | null): string {
  if (status === 401 || body?.code === "INVALID_EMAIL_OR_PASSWORD") return "Wrong email or password";
  if (body?.code === "INVALID_EMAIL") return "Enter a valid email address";
  if (body?.message) return body.message;
  if (status >= 500) return "The server had a problem signing you in: try again in a moment";
  return "Sign-in failed: try again";
}

export function SignInForm({ next }: { next: string }) {
  const [email, setEmail] = useState("");
  const [password, setPassword] = useState("");
  const [error, setError] = useState<string | null>(null);
  const [pending, setPending] = useState(false);

  async function onSubmit(e: FormEvent) {
    e.preventDefault();
    setError(null);
    if (!email.trim() || !password) {
      setError("Enter your email and password");
      return;
    }
    setPending(true);
    try {
      const res = await fetch("/api/auth/sign-in/email", {
        method: "POST",
        headers: { "content-type": "application/json" },
        credentials: "same-origin",
        body: JSON.stringify({ email: email.trim(), password, rememberMe: true }),
      });
      if (res.ok) {
        // A full navigation, so the server renders the next page with the new cookie.
        window.location.assign(next);
        return;
      }
      const body = (await res.json().catch(() => null)) as { message?: string; code?: string } | null;
      setError(messageFor(res.status, body));
    } catch {
      setError("Cannot reach the server: check your connection and try again");
    }
    setPending(false);
  }

  return (
    <form onSubmit={onSubmit} className="grid gap-4" noValidate aria-describedby={error ? "sign-in-error" : undefined}>
      <div className="grid gap-1.5">
        <Label htmlFor="email">Email</Label>
        <Input
          id="email"
          name="email"
          type="email"
          autoComplete="username"
          autoFocus
          required
          value={email}
          onChange={(e) => setEmail(e.target.value)}
          aria-invalid={error ? true : undefined}
        />
      </div>
      <div className="grid gap-1.5">
        <Label htmlFor="password">Password</Label>
        <Input
          id="password"
          name="password"
          type="password"
          autoComplete="current-password"
          required
          value={password}
          onChange={(e) => setPassword(e.target.value)}
          aria-invalid={error ? true : undefined}
        />
      </div>
      {error ? (
        <p
          id="sign-in-error"
          role="alert"
          className="rounded-md border border-rose-200 bg-rose-50 px-3 py-2 text-sm text-rose-800"
        >
          {error}
        </p>
      ) : null}
      <Button type="submit" disabled={pending} className="w-full">
        {pending ? <Spinner /> : null}
        Sign in
      </Button>
    </form>
  );
}
