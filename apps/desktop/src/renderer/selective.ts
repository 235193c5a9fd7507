// Selective-sync choices as a set of excluded remote paths, the shape PUT /api/selective
// takes. Pure so the checkbox rules are unit-tested: excluding a folder drops the exclusions
// below it (they are implied), and a folder under an excluded one cannot be toggled on its own.

export type Included = boolean | "partial";

const isUnder = (p: string, dir: string) => dir === "/" || p.startsWith(dir + "/");

export function normalize(excluded: readonly string[]): string[] {
  const sorted = [...new Set(excluded)].sort();
  return sorted.filter((p) => !sorted.some((q) => q !== p && isUnder(p, q)));
}

export function includedState(path: string, excluded: readonly string[]): Included {
  if (excluded.some((e) => e === path || isUnder(path, e))) return false;
  if (excluded.some((e) => isUnder(e, path))) return "partial";
  return true;
}

/** Whether the folder's own checkbox can change (not when an ancestor is excluded). */
export function toggleable(path: string, excluded: readonly string[]): boolean {
  return !excluded.some((e) => e !== path && isUnder(path, e));
}

export function toggle(path: string, excluded: readonly string[]): string[] {
  if (!toggleable(path, excluded)) return [...excluded];
  if (excluded.includes(path)) return normalize(excluded.filter((e) => e !== path));
  // Checked or partial → exclude the whole folder.
  return normalize([...excluded.filter((e) => !isUnder(e, path)), path]);
}

export function sameSet(a: readonly string[], b: readonly string[]): boolean {
  const x = normalize(a);
  const y = normalize(b);
  return x.length === y.length && x.every((v, i) => v === y[i]);
}
