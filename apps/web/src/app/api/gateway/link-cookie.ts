import { hashLinkToken } from "@cumulus/control/shares/links";

/** The grant cookie of one link: named after a hash of its token, never the token itself. */
export function linkCookieName(token: string): string {
  return `cumulus_link_${hashLinkToken(token).slice(0, 16)}`;
}

export function readCookie(header: string | null, name: string): string | null {
  if (!header) return null;
  for (const part of header.split(";")) {
    const i = part.indexOf("=");
    if (i > 0 && part.slice(0, i).trim() === name) return part.slice(i + 1).trim() || null;
  }
  return null;
}
