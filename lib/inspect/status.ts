import type {Store} from '../store/index.js';
import {conflictedNow, countConflicted} from '../conflicts/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf, viewStateOf} from '../pipeline/index.js';
import {advanceCounts, loadCounts, refreshCounts, saveCounts, type Place, type StageCounts} from '../counts/index.js';
import {cellOf, claimedAt, DOC_STATES, type DocState} from './states.js';

/** One row's documents by state: `edw list --stage ROW --STATE` lists the documents of each count. */
export type RowCounts = Record<DocState, number>;

/** `edw status --json`: every data-file document counted once at its stage, and once in a row. */
export interface StatusCounts {
  total: number;
  /** Documents per stage they stand at (their last completed step): every configured step and `new` (zeros included), plus any other stage a document stands at. */
  stages: Record<string, number>;
  /** Documents failed for good, keyed by the step that failed (they also count in `stages`). */
  failed: Record<string, number>;
  /** Documents a listener holds a live claim on right now, keyed by step. */
  in_progress: Record<string, number>;
  /** Documents not processed because their status is not "good" (they also count in `stages`). */
  bad: number;
  /**
   * The status table: `new`, every configured step, and any other stage a document stands at, each
   * with its documents by state (lib/inspect/states.ts). Row S holds the documents that completed S
   * and wait for the next step (or are done, or bad), and those inside step S: in progress, retrying
   * or failed at S.
   */
  rows: Record<string, RowCounts>;
  /**
   * Documents with replication conflicts right now (a CouchDB cluster makes them while nodes are down);
   * a running listener process merges them (they also count above, at their winning revision's place).
   */
  conflicted: number;
  /**
   * Only when not exact: a reading bounded by `maxChanges` found what is kept further behind the feed
   * than that (a cold `edw serve` while its keeper catches up) and answered from it as far as it read.
   * `counts_as_of`: the counts are exact as of at least this time (ISO: when the counts it started
   * from were saved), null when they are exact now;
   * `conflicted_exact`: whether `conflicted` is (false: the conflicts found so far).
   */
  fresh?: {exact: false; counts_as_of: string | null; conflicted_exact: boolean};
}

export interface StatusOptions {
  /**
   * Where the counts are kept from the feed (PouchDB, pouchdb-server): read at most about this many
   * changes past the saved counts and the saved conflict scan, and answer from there with `fresh`
   * when the feed goes on (with no counts saved at all, it reads the whole feed once and saves them).
   * @default no limit: read to the feed's end (exact, as `edw status`)
   */
  maxChanges?: number;
}

/**
 * Count documents per stage, and per row and state. Where the server stores view reductions (CouchDB) this is one
 * grouped reduce of the stage view, plus the claims view and the documents claimed now; on PouchDB and
 * pouchdb-server, which re-read every row of a reduce, it is the counts kept from the feed (see
 * lib/counts), brought up to date first.
 */
export async function statusCounts(store: Store, steps: string[], now = Date.now(), options: StatusOptions = {}): Promise<StatusCounts> {
  const {reductionsStored} = await store.info();
  if (options.maxChanges !== undefined && !reductionsStored) return boundedStatus(store, steps, now, options.maxChanges);
  const status = reductionsStored ? await statusFromView(store, steps, now) : statusFromCounts(await refreshCounts(store), steps, now);
  status.conflicted = await countConflicted(store, {reductionsStored});
  return status;
}

/** statusCounts with `maxChanges`, where the counts are kept from the feed. */
async function boundedStatus(store: Store, steps: string[], now: number, maxChanges: number): Promise<StatusCounts> {
  const counts = await loadCounts(store);
  // Nothing kept (no listener or keeper has saved counts): the whole feed, once, saved for the next
  // reader. On PouchDB that is the cheapest exact count of a cold database: at 20,000 documents 2.5 s,
  // where the stage view's keys took 15 s (the view is built first).
  const kept = counts.seq !== '0';
  const countsExact = await advanceCounts(store, counts, {
    ...(kept ? {maxChanges, pageSize: Math.min(2000, maxChanges)} : {}),
    checkpoint: () => saveCounts(store, counts),
  });
  const status = statusFromCounts(counts, steps, now);
  const conflicts = await conflictedNow(store, {reductionsStored: false, maxPages: Math.max(1, Math.ceil(maxChanges / 1000))});
  status.conflicted = conflicts.count;
  if (!countsExact || !conflicts.complete) {
    status.fresh = {exact: false, counts_as_of: countsExact || counts.savedAt === undefined ? null : new Date(counts.savedAt).toISOString(), conflicted_exact: conflicts.complete};
  }
  return status;
}

/** A status being counted, place by place, for a chain of `steps` given in order. */
class StatusTally {
  readonly status: StatusCounts = {total: 0, stages: {}, failed: {}, in_progress: {}, bad: 0, rows: {}, conflicted: 0};

  constructor(readonly steps: string[]) {
    for (const stage of ['new', ...steps]) {
      this.#row(stage);
      this.status.stages[stage] = 0;
    }
    for (const step of steps) {
      this.status.failed[step] = 0;
      this.status.in_progress[step] = 0;
    }
  }

  #row(name: string): RowCounts {
    return (this.status.rows[name] ??= Object.fromEntries(DOC_STATES.map((s) => [s, 0])) as RowCounts);
  }

  /** Count `n` documents at `place` (a negative `n` takes them back). */
  add(place: Place, n: number): void {
    const {status} = this;
    status.total += n;
    status.stages[place.stage] = (status.stages[place.stage] ?? 0) + n;
    if (place.state === 'bad') status.bad += n;
    if (place.state === 'failed' && place.failedStep) status.failed[place.failedStep] = (status.failed[place.failedStep] ?? 0) + n;
    const {row, state} = cellOf(this.steps, place.stage, place.state, place.claimedFor !== undefined);
    if (state === 'in_progress') status.in_progress[place.claimedFor!] = (status.in_progress[place.claimedFor!] ?? 0) + n;
    this.#row(row)[state] += n;
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
