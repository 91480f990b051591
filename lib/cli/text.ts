/**
 * `n` with its noun in the right number: `plural(1, 'file')` is "1 file", `plural(2, 'file')` "2 files".
 * @param many the plural form when adding `s` is wrong (`plural(2, 'entry', 'entries')`).
 */
export function plural(n: number, one: string, many = `${one}s`): string {
  return `${n} ${n === 1 ? one : many}`;
}
