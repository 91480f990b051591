/**
 * `edw status` time (lib/inspect's statusCounts, what the command calls) and, for choosing how to
 * make it fast, two other ways to get the same counts: a `reduce=false` read of the whole stage view
 * (rows only) and a read of `_changes` with documents from 0.
 */
import {DESIGN} from '../../lib/design/index.js';
import {statusCounts, type StatusCounts} from '../../lib/inspect/index.js';
import {isDataFile, stageOf} from '../../lib/pipeline/index.js';
import type {Store} from '../../lib/store/index.js';
import {NOOP_STEPS} from './noop-chain.js';
import {median, timed} from './stats.js';

export interface StatusTimes {
  /** The first call: includes bringing the views' indexes up to date with the writes before it. */
  coldMs: number;
  /** Median of `repeats` further calls. */
  warmMs: number;
  counts: StatusCounts;
}

/** Time statusCounts: once cold, then `repeats` times warm. */
export async function timeStatus(store: Store, repeats = 3): Promise<StatusTimes> {
  const cold = await timed(() => statusCounts(store, [...NOOP_STEPS]));
  const warm: number[] = [];
  for (let i = 0; i < repeats; i++) warm.push((await timed(() => statusCounts(store, [...NOOP_STEPS]))).ms);
  return {coldMs: cold.ms, warmMs: median(warm), counts: cold.value};
}

/** Documents per stage from a `reduce=false` read of the whole stage view: one request, rows only. */
export async function countsFromViewRows(store: Store): Promise<Record<string, number>> {
  const {rows} = await store.query({design: DESIGN, view: 'stage', reduce: false});
  const stages: Record<string, number> = {};
  for (const row of rows) {
    const stage = (row.key as [string])[0];
    stages[stage] = (stages[stage] ?? 0) + 1;
  }
  return stages;
}

/** Documents per stage from `_changes` with documents from 0, in pages of `pageSize`. */
export async function countsFromChanges(store: Store, pageSize = 1000): Promise<Record<string, number>> {
  const stages: Record<string, number> = {};
  let since = '0';
  for (;;) {
    const page = await store.changes({since, limit: pageSize, includeDocs: true});
    for (const change of page.results) {
      if (!change.doc || !isDataFile(change.doc)) continue;
      const stage = stageOf(change.doc);
      stages[stage] = (stages[stage] ?? 0) + 1;
    }
    since = page.lastSeq;
    if (page.results.length < pageSize) break;
  }
  return stages;
}
