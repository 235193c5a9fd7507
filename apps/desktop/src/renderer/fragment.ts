/** The secret in a location hash like "#secret=abc&x=y", or null. */
export function secretFromHash(hash: string): string | null {
  const params = new URLSearchParams(hash.replace(/^#/, ""));
  const s = params.get("secret");
  return s && s.length > 0 ? s : null;
}
