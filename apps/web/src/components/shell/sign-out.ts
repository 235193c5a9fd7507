/** Ends the browser session (better-auth) and goes to the sign-in page. */
export async function signOut(): Promise<void> {
  try {
    await fetch("/api/auth/sign-out", {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: "{}",
      credentials: "same-origin",
    });
  } finally {
    window.location.assign("/sign-in");
  }
}
