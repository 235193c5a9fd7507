/**
 * The site whose storage nodes the gateway reads first: CUMULUS_SITE of the control-plane
 * process (where the gateway runs), else the client's x-cumulus-site header, else none
 * (replicas are then spread by a per-chunk hash).
 */
export function gatewaySite(clientSite: string | null): string | null {
  return process.env.CUMULUS_SITE?.trim() || clientSite?.trim() || null;
}
