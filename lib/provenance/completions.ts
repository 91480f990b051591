import {ConfigError, NotFoundError} from '../errors/index.js';
import type {Store} from '../store/index.js';
import {PROVENANCE_DESIGN} from './marks.js';

/** Completions bin by the hour or the minute (UTC), as the `completions` view groups them. */
export const COMPLETION_BINS = {hour: 3600, minute: 60} as const;
export type CompletionBin = keyof typeof COMPLETION_BINS;

/** At most this many bins an answer. */
export const MAX_COMPLETION_BINS = 10_000;

export interface CompletionCounts {
  /** Start of the first bin (epoch seconds): `from` rounded down to the bin. */
  from: number;
  to: number;
  /** Bin width, seconds. */
  bin: number;
  /** Per step: bin i counts the completions finished in [from + i*bin, from + (i+1)*bin). */
  steps: Record<string, number[]>;
}

/**
 * Completions of each step per hour or minute from `from` to `to` (epoch seconds, both included): every
 * entry done with a finish time, a re-execution's too, from one grouped reduce of the provenance
 * `completions` view per step. The view is not kept warm (`autoupdate: false`): the first read after
 * writes indexes them.
 */
export async function completionCounts(store: Store, steps: readonly string[], from: number, to: number, bin: CompletionBin, signal?: AbortSignal): Promise<CompletionCounts> {
  const width = COMPLETION_BINS[bin];
  if (to < from) throw new ConfigError(`to ${to} is before from ${from}`);
  const start = Math.floor(from / width) * width;
  const bins = Math.floor((to - start) / width) + 1;
  if (bins > MAX_COMPLETION_BINS) throw new ConfigError(`${bins} bins of a ${bin} from ${from} to ${to}: at most ${MAX_COMPLETION_BINS} (a shorter range, or bin=hour)`);
  const counts: Record<string, number[]> = {};
  for (const step of steps) {
    const row = (counts[step] = new Array<number>(bins).fill(0));
    const answer = await store.query({
      design: PROVENANCE_DESIGN, view: 'completions', reduce: true, groupLevel: bin === 'hour' ? 2 : 3,
      startkey: [step, Math.floor(start / 3600) * 3600], endkey: [step, to, {}], signal,
    }).catch((error: unknown) => {
      if (error instanceof NotFoundError) throw new NotFoundError(`the database has no completions view in _design/${PROVENANCE_DESIGN} (run edw push-design)`, {cause: error});
      throw error;
    });
    for (const {key, value} of answer.rows) {
      const [, hour, minute] = key as [string, number, number?];
      const at = hour + (minute ?? 0) * 60;
      if (at >= start && at <= to) row[Math.floor((at - start) / width)]! += Number(value);
    }
  }
  return {from: start, to, bin: width, steps: counts};
}
