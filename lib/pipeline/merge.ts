import type {DataFileDoc, ProcessEntry} from './document.js';
import {isSuperseded, markSuperseded, withoutMark} from './record.js';

/** Deep equality of JSON values, key order ignored. */
function sameJson(a: unknown, b: unknown): boolean {
  if (a === b) return true;
  if (typeof a !== 'object' || typeof b !== 'object' || a === null || b === null) return false;
  if (Array.isArray(a) !== Array.isArray(b)) return false;
  const ka = Object.keys(a);
  const kb = Object.keys(b);
  return ka.length === kb.length && ka.every((k) => Object.hasOwn(b, k) && sameJson((a as Record<string, unknown>)[k], (b as Record<string, unknown>)[k]));
}

/**
 * Merge the revisions of a conflicted data-file document (the winning revision first). The merged
 * `process` holds every entry of every revision, once each (an entry present in several revisions is
 * one entry), ordered by `finished` (or `started`) time; entries without a time (the seed's) come
 * first; ties keep the winner's order, then each loser's in revision order. An entry that one revision
 * marked as superseded and another did not is one entry, kept with its mark (the winner's mark when the
 * winner has one: a mark is never changed). Then, of two completions of one step and version, every one
 * but the completion of record is marked (record.ts), so the result is the same whichever revision
 * won. Period and reprocessing marks are the winner's followed by those only a loser holds. Every
 * other field is the winner's. Pure: the same revisions always give the same document; the
 * winner's entries are kept unchanged or with a mark added, which validate_doc_update allows.
 */
export function mergeRevisions(winner: DataFileDoc, losers: DataFileDoc[]): DataFileDoc {
  const entries: ProcessEntry[] = [];
  const ordered = [winner, ...[...losers].sort((a, b) => String(a._rev).localeCompare(String(b._rev)))];
  for (const revision of ordered) {
    const used = new Set<number>();
    for (const entry of revision.process) {
      // The same entry in two revisions (history they share) is kept once; equal entries within one
      // revision are distinct history and all kept. An exact match first, then one that differs only
      // by a superseded mark (one branch marked it, the other had not).
      let match = entries.findIndex((e, i) => !used.has(i) && sameJson(e, entry));
      if (match === -1) {
        const bare = withoutMark(entry);
        match = entries.findIndex((e, i) => !used.has(i) && sameJson(withoutMark(e), bare));
        if (match !== -1 && !isSuperseded(entries[match]!) && isSuperseded(entry)) entries[match] = entry;
      }
      if (match === -1) {
        entries.push(entry);
        used.add(entries.length - 1);
      } else used.add(match);
    }
  }
  const time = (e: ProcessEntry): string => (typeof e.finished === 'string' ? e.finished : typeof e.started === 'string' ? e.started : '');
  const sorted = entries.map((entry, index) => ({entry, index})).sort((a, b) => time(a.entry).localeCompare(time(b.entry)) || a.index - b.index).map((x) => x.entry);
  const {_conflicts, ...rest} = winner;
  const merged: DataFileDoc = {...rest, process: markSuperseded(sorted)};
  // Period and reprocessing marks are append-only too: the winner's, then each mark only a loser has.
  for (const field of ['periods', 'reprocess'] as const) {
    const marks = unionMarks(winner[field], losers.map((l) => l[field]));
    if (marks) (merged as Record<string, unknown>)[field] = marks;
  }
  return merged;
}

/** The winner's marks in their order, then those only losers hold, ordered by `at`; undefined when none has any. */
function unionMarks(winner: Array<{at: string}> | undefined, losers: Array<Array<{at: string}> | undefined>): Array<{at: string}> | undefined {
  const kept = [...(winner ?? [])];
  const extra = losers.flatMap((marks) => marks ?? []).filter((m, i, all) => !kept.some((k) => sameJson(k, m)) && all.findIndex((o) => sameJson(o, m)) === i);
  extra.sort((a, b) => String(a.at).localeCompare(String(b.at)));
  const all = [...kept, ...extra];
  return all.length || winner ? all : undefined;
}
