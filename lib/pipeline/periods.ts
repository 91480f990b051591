import type {Doc} from '../store/index.js';

/** What a period means for the files in it: `exclude` (steps do not run on them), `include` or `note` (recorded only). */
export type PeriodKind = 'exclude' | 'include' | 'note';

/**
 * A period document, `period:NAME`: a stretch of time (and runs) set apart, with who set it, when and
 * why. Never deleted: a removal adds `removed` (who, when, why), nothing else changes.
 */
export interface PeriodDoc extends Doc {
  type: 'period';
  name: string;
  kind: PeriodKind;
  /** Epoch seconds, both ends included. */
  from?: number;
  to?: number;
  runs: string[];
  reason: string;
  by: string;
  at: string;
  removed?: {reason: string; by: string; at: string};
}

/**
 * A mark in a file's append-only `periods` array: the file was put in a period (`add`) or taken out
 * of it when the period was removed (`remove`). The latest mark of each period says whether it holds.
 */
export interface PeriodMark {
  period: string;
  kind: PeriodKind;
  action: 'add' | 'remove';
  reason: string;
  at: string;
  by: string;
}

export const PERIOD_PREFIX = 'period:';

/** The periods a file is in now, by name: those whose latest mark is an `add`. Same rule as design-docs/edw/lib/excluded.js. */
export function periodsInForce(doc: {periods?: unknown}): PeriodMark[] {
  const held = new Map<string, PeriodMark>();
  for (const mark of Array.isArray(doc.periods) ? (doc.periods as PeriodMark[]) : []) {
    if (!mark || typeof mark.period !== 'string') continue;
    if (mark.action === 'add') held.set(mark.period, mark);
    else held.delete(mark.period);
  }
  return [...held.values()];
}

/** Whether a file is in a period of kind `exclude` now: steps do not run on it. */
export function isExcluded(doc: {periods?: unknown}): boolean {
  return periodsInForce(doc).some((mark) => mark.kind === 'exclude');
}

/** The time a file is placed in periods by: its modification time when registered (the end of its acquisition), else its registration time. */
export function fileTime(doc: {file_mtime?: unknown; datecreated?: unknown}): number | undefined {
  if (typeof doc.file_mtime === 'number') return doc.file_mtime;
  return typeof doc.datecreated === 'number' ? doc.datecreated : undefined;
}

/** Whether a file falls in a period: its time between `from` and `to`, or its run named. */
export function inPeriod(period: PeriodDoc, doc: {run?: unknown; file_mtime?: unknown; datecreated?: unknown}): boolean {
  const time = fileTime(doc);
  if (time !== undefined && period.from !== undefined && period.to !== undefined && time >= period.from && time <= period.to) return true;
  return typeof doc.run === 'string' && period.runs.includes(doc.run);
}

/** The mark that puts a file in `period` (or takes it out). */
export function periodMark(period: PeriodDoc, action: 'add' | 'remove', by: string, at: string, reason = period.reason): PeriodMark {
  return {period: period.name, kind: period.kind, action, reason, at, by};
}
