import type {Store} from '../store/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf, viewStateOf} from '../pipeline/index.js';
import {refreshCounts, type Place, type StageCounts} from './counts.js';
import {claimedAt, DOC_STATES, nextStep, stateOf, type DocState} from './states.js';

/** One stage's documents by state: `edw list --stage S --STATE` lists the documents of each count. */
export type StageStates = Record<DocState, number> & {
  /** The step its documents wait for; null where no configured step follows (the last step's stage). */
  next_step: string | null;
};

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
  /** The same documents per stage (the keys of `stages`) and state (lib/inspect/states.ts). */
  by_stage: Record<string, StageStates>;
}

/**
 * Count documents per stage and state. Where the server stores view reductions (CouchDB) this is one
 * grouped reduce of the stage view, plus the claims view and the documents claimed now; on PouchDB and
 * pouchdb-server, which re-read every row of a reduce, it is the counts kept from the feed (see
 * counts.ts), brought up to date first.
 */
export async function statusCounts(store: Store, steps: string[], now = Date.now()): Promise<StatusCounts> {
  const {reductionsStored} = await store.info();
  return reductionsStored ? statusFromView(store, steps, now) : statusFromCounts(await refreshCounts(store), steps, now);
}

/** A status being counted, place by place, for a chain of `steps` given in order. */
class StatusTally {
  readonly status: StatusCounts = {total: 0, stages: {}, failed: {}, in_progress: {}, bad: 0, by_stage: {}};

  constructor(readonly steps: string[]) {
    for (const stage of ['new', ...steps]) this.#row(stage);
    for (const step of steps) {
      this.status.failed[step] = 0;
      this.status.in_progress[step] = 0;
    }
  }

  #row(stage: string): StageStates {
    this.status.stages[stage] ??= 0;
    const row = (this.status.by_stage[stage] ??= {next_step: nextStep(this.steps, stage) ?? null, ...Object.fromEntries(DOC_STATES.map((s) => [s, 0]))} as StageStates);
    return row;
  }

  /** Count `n` documents at `place` (a negative `n` takes them back). */
  add(place: Place, n: number): void {
    const {status} = this;
    const row = this.#row(place.stage);
    status.total += n;
    status.stages[place.stage]! += n;
    if (place.state === 'bad') status.bad += n;
    if (place.state === 'failed' && place.failedStep) status.failed[place.failedStep] = (status.failed[place.failedStep] ?? 0) + n;
    const state = stateOf(place.state, place.claimedFor !== undefined, row.next_step !== null);
    if (state === 'in_progress') status.in_progress[place.claimedFor!] = (status.in_progress[place.claimedFor!] ?? 0) + n;
    row[state] += n;
  }
}

/** The status from counts kept from the feed. */
export function statusFromCounts(counts: StageCounts, steps: string[], now: number): StatusCounts {
  const tally = new StatusTally(steps);
  for (const {place, count} of counts.places(now)) tally.add(place, count);
  return tally.status;
}

/** The status from the stage view's reduce, the claims view and the claimed documents: cheap where reductions are stored. */
export async function statusFromView(store: Store, steps: string[], now: number): Promise<StatusCounts> {
  const tally = new StatusTally(steps);
  const grouped = await store.query({design: DESIGN, view: 'stage', reduce: true, groupLevel: 2});
  const failedStages: string[] = [];
  for (const row of grouped.rows) {
    const [stage, state] = row.key as [string, Place['state']];
    if (state === 'failed') failedStages.push(stage);
    else tally.add({stage, state}, Number(row.value));
  }
  // The failed step is in the rows' values, not their keys (failed documents are few).
  for (const stage of failedStages) {
    const rows = await store.query({design: DESIGN, view: 'stage', startkey: [stage, 'failed'], endkey: [stage, 'failed', {}], reduce: false});
    for (const row of rows.rows) tally.add({stage, state: 'failed', failedStep: String(row.value)}, 1);
  }
  // A live claim does not show in the stage view's key: move each claimed document from the place the
  // reduce counted it at to the same place, claimed. Claims live now are as many as the steps running.
  const claims = await store.query({design: DESIGN, view: 'claims'});
  const live = claims.rows.filter((row) => typeof row.value === 'number' && row.value > now && row.id).map((row) => row.id!);
  for (const doc of live.length ? await store.getMany(live) : []) {
    if (!isDataFile(doc) || !claimedAt(doc, now)) continue;
    const place: Place = {stage: stageOf(doc), state: viewStateOf(doc), ...(doc.edw?.failed ? {failedStep: doc.edw.failed.step} : {})};
    tally.add(place, -1);
    tally.add({...place, claimedFor: doc.edw!.claim!.step}, 1);
  }
  return tally.status;
}
