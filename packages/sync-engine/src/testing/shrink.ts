/**
 * Delta debugging (Zeller's ddmin): the smallest sublist of `items` (1-minimal: removing any
 * single element makes the failure go away) for which `fails` still holds. `fails(items)`
 * must be true on entry.
 */
export function ddmin<T>(items: readonly T[], fails: (subset: T[]) => boolean): T[] {
  let cur = [...items];
  let n = 2;
  while (cur.length >= 2) {
    const chunk = Math.ceil(cur.length / n);
    let reduced = false;
    for (let i = 0; i < cur.length; i += chunk) {
      // Try each complement first: dropping one chunk at a time converges fastest on edit lists.
      const complement = [...cur.slice(0, i), ...cur.slice(i + chunk)];
      if (complement.length > 0 && fails(complement)) {
        cur = complement;
        n = Math.max(n - 1, 2);
        reduced = true;
        break;
      }
    }
    if (!reduced) {
      for (let i = 0; i < cur.length; i += chunk) {
        const subset = cur.slice(i, i + chunk);
        if (subset.length < cur.length && fails(subset)) {
          cur = subset;
          n = 2;
          reduced = true;
          break;
        }
      }
    }
    if (!reduced) {
      if (n >= cur.length) break;
      n = Math.min(cur.length, n * 2);
    }
  }
  if (cur.length === 1 && fails([])) return [];
  return cur;
}
