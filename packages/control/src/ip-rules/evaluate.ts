import { cidrContains, parseCidr, parseIp, type Cidr } from "./cidr.ts";

/**
 * IP access rules (Sector's IP access control list), evaluated as a pure function.
 *
 * Scopes, most specific first: the user's own rules, then the rules of the user's
 * groups, then the global rules. The first scope with a rule matching the address
 * decides: within it a matching deny wins over a matching allow. When no rule matches
 * anywhere, the address is refused if any applicable scope has an allow rule (an allow
 * list is in force and the address is not on it), else it is allowed.
 */

export type IpRuleScope = "user" | "group" | "global";

export type IpRuleLike = {
  id?: string;
  cidr: string;
  action: "allow" | "deny";
  scope: IpRuleScope;
  /** For group rules: the group's name, for messages. */
  groupName?: string | null;
};

export type IpDecision = {
  allowed: boolean;
  /** The rule that decided, if one matched. */
  rule: IpRuleLike | null;
  /** Why, in words an administrator (and a refused user) can act on. */
  reason: string;
};

const ORDER: IpRuleScope[] = ["user", "group", "global"];

function scopeName(r: IpRuleLike): string {
  if (r.scope === "group") return r.groupName ? `group ${r.groupName}` : "a group";
  return r.scope === "user" ? "this user" : "everyone";
}

export function evaluateIpRules(ip: string | null, rules: readonly IpRuleLike[]): IpDecision {
  if (rules.length === 0) return { allowed: true, rule: null, reason: "no IP rules apply" };
  const addr = ip ? parseIp(ip) : null;
  if (!addr) {
    return { allowed: false, rule: null, reason: "IP rules apply but the client's address is unknown" };
  }
  const parsed = rules
    .map((r) => ({ r, c: parseCidr(r.cidr) }))
    .filter((x): x is { r: IpRuleLike; c: { ok: true; cidr: Cidr; canonical: string } } => x.c.ok);
  for (const scope of ORDER) {
    const inScope = parsed.filter((x) => x.r.scope === scope);
    const matching = inScope.filter((x) => cidrContains(x.c.cidr, addr));
    const deny = matching.find((x) => x.r.action === "deny");
    if (deny) {
      return { allowed: false, rule: deny.r, reason: `denied by rule ${deny.r.cidr} (${scopeName(deny.r)})` };
    }
    const allow = matching.find((x) => x.r.action === "allow");
    if (allow) {
      return { allowed: true, rule: allow.r, reason: `allowed by rule ${allow.r.cidr} (${scopeName(allow.r)})` };
    }
  }
  const allowLists = parsed.filter((x) => x.r.action === "allow");
  if (allowLists.length > 0) {
    const scopes = [...new Set(allowLists.map((x) => scopeName(x.r)))].join(", ");
    return { allowed: false, rule: null, reason: `not on the allow list (allow rules for ${scopes})` };
  }
  return { allowed: true, rule: null, reason: "no rule matches the address" };
}
