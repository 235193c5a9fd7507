// Whether a peer's URL points at this node's own host. Two sites on one machine (the cluster
// in a box) have no WAN between them, so copies to and from such a peer stay on HTTP even
// across sites (ADR 0012): UDT over loopback costs far more CPU than TCP and gains nothing.

/** The host part of `url`, lowercase, IPv6 brackets removed; null for a malformed URL. */
function hostOf(url: string): string | null {
  try {
    return new URL(url).hostname.replace(/^\[(.*)\]$/, "$1").toLowerCase();
  } catch {
    return null;
  }
}

/** True when `url`'s host is `ownHost` (compared as given, lowercase); false without one. */
export function isAtOwnHost(url: string, ownHost: string | null): boolean {
  return ownHost !== null && hostOf(url) === ownHost.toLowerCase();
}
