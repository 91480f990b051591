import type {Store} from '../store/index.js';
import {DESIGN} from '../design/index.js';
import {refreshCounts, type StageCounts} from './counts.js';

/** `edw status --json`: every data-file document counted once at its stage. */
export interface StatusCounts {
  total: number;
  /** Every configured step and `new` (zeros included), plus any other stage a document stands at. */
  stages: Record<string, number>;
  /** Documents failed for good, keyed by the step that failed (they also count in `stages`). */
  failed: Record<string, number>;
  /** Documents a listener holds a live claim on right now, keyed by step. */
  in_progress: Record<string, number>;
  /** Documents not processed because their status is not "good" (they also count in `stages`). */
  bad: number;
}

/**
 * Count documents per stage, with the failed and the claimed ones. Where the server stores view
 * reductions (CouchDB) this is one grouped reduce of the stage view; on PouchDB and pouchdb-server,
 * which re-read every row of a reduce, it is the counts kept from the feed (see counts.ts), brought
 * up to date first.
 */
export async function statusCounts(store: Store, steps: string[], now = Date.now()): Promise<StatusCounts> {
  const {reductionsStored} = await store.info();
  return reductionsStored ? statusFromView(store, steps, now) : statusFromCounts(await refreshCounts(store), steps, now);
}

function emptyStatus(steps: string[]): StatusCounts {
  const status: StatusCounts = {total: 0, stages: {new: 0}, failed: {}, in_progress: {}, bad: 0};
  for (const step of steps) {
    status.stages[step] = 0;
    status.failed[step] = 0;
    status.in_progress[step] = 0;
  }
  return status;
}

/** The status from counts kept from the feed. */
export function statusFromCounts(counts: StageCounts, steps: string[], now: number): StatusCounts {
  const status = emptyStatus(steps);
  for (const {place, count} of counts.places()) {
    status.total += count;
    status.stages[place.stage] = (status.stages[place.stage] ?? 0) + count;
    if (place.state === 'bad') status.bad += count;
    if (place.state === 'failed' && place.failedStep) status.failed[place.failedStep] = (status.failed[place.failedStep] ?? 0) + count;
  }
  for (const [step, n] of Object.entries(counts.claimsAt(now))) status.in_progress[step] = (status.in_progress[step] ?? 0) + n;
  return status;
}

/** The status from the stage view's reduce (and the claims view): cheap where reductions are stored. */
export async function statusFromView(store: Store, steps: string[], now: number): Promise<StatusCounts> {
  const status = emptyStatus(steps);
  const grouped = await store.query({design: DESIGN, view: 'stage', reduce: true, groupLevel: 2});
  const failedStages: string[] = [];
  for (const row of grouped.rows) {
    const [stage, state] = row.key as [string, string];
    const n = Number(row.value);
    status.total += n;
    status.stages[stage] = (status.stages[stage] ?? 0) + n;
    if (state === 'bad') status.bad += n;
    if (state === 'failed') failedStages.push(stage);
  }
  for (const stage of failedStages) {
    const rows = await store.query({design: DESIGN, view: 'stage', startkey: [stage, 'failed'], endkey: [stage, 'failed', {}], reduce: false});
    for (const row of rows.rows) {
      const step = String(row.value);
      status.failed[step] = (status.failed[step] ?? 0) + 1;
    }
  }
  const claims = await store.query({design: DESIGN, view: 'claims'});
  for (const row of claims.rows) {
    if (typeof row.value === 'number' && row.value > now) {
      const step = String(row.key);
      status.in_progress[step] = (status.in_progress[step] ?? 0) + 1;
    }
  }
  return status;
}
