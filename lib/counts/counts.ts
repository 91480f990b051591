import {DESIGN} from '../design/index.js';
import type {Store, ViewKey} from '../store/index.js';
import {isDataFile, stageOf, viewStateOf, type DataFileDoc} from '../pipeline/index.js';

/**
 * Where every data-file document stands, kept from the changes feed in one `_local` document, for the
 * databases that do not store view reductions (PouchDB, pouchdb-server): there a reduce over the stage
 * view re-reads every row, seconds at 100,000 documents. Each document's place is kept by id, so that
 * a change moves its count from the old place to the new one; the feed from the saved position brings
 * the rest. Replays (a rewound feed, two keepers) apply the same places again and change nothing, so
 * any number of processes may keep it; the last write wins, and a copy behind its peers only costs
 * the next refresh more of the feed.
 */
export const COUNTS_ID = 'edw-counts';

/** A document's place: its stage, the state of its stage-view key, and the step it failed at for good. */
export interface Place {
  stage: string;
  state: 'bad' | 'excluded' | 'failed' | 'retry' | 'ready';
  failedStep?: string;
  /** The step of the claim it holds, when that claim is live at the time asked for (see `places`). */
  claimedFor?: string;
}

/** What the `_local` document holds (places as indexes into `places`, to keep it small). */
interface CountsBody {
  version: 1;
  seq: string;
  /** When they were saved (epoch ms): how fresh a status answered from them without reading on is. */
  saved_at?: number;
  /** `stage\tstate\tfailedStep` of each place in use. */
  places: string[];
  docs: Record<string, number>;
  /** Live claims: document id -> [step, lease end in epoch ms]. */
  claims: Record<string, [string, number]>;
}

/** A place as kept per document: `stage\tstate\tfailedStep` (the step only for the failed state). */
function placeKey(stage: string, state: string, failedStep: string | undefined): string {
  return `${stage}\t${state}\t${state === 'failed' ? failedStep ?? '' : ''}`;
}

/** The places of every data-file document as of a feed position. */
export class StageCounts {
  readonly #docs = new Map<string, string>();
  readonly #claims = new Map<string, [string, number]>();
  seq: string;
  /** When the counts read from `_local/edw-counts` were saved there (epoch ms); undefined for others. */
  savedAt: number | undefined;

  constructor(seq = '0') {
    this.seq = seq;
  }

  static fromBody(body: Record<string, unknown> | null): StageCounts {
    const counts = new StageCounts();
    if (!body || body.version !== 1 || typeof body.seq !== 'string') return counts;
    const b = body as unknown as CountsBody;
    counts.seq = b.seq;
    if (typeof b.saved_at === 'number') counts.savedAt = b.saved_at;
    for (const [id, index] of Object.entries(b.docs ?? {})) {
      const place = b.places[index];
      if (place !== undefined) counts.#docs.set(id, place);
    }
    for (const [id, claim] of Object.entries(b.claims ?? {})) counts.#claims.set(id, claim);
    return counts;
  }

  toBody(): CountsBody {
    const index = new Map<string, number>();
    const docs: Record<string, number> = {};
    for (const [id, place] of this.#docs) {
      let i = index.get(place);
      if (i === undefined) index.set(place, (i = index.size));
      docs[id] = i;
    }
    return {version: 1, seq: this.seq, places: [...index.keys()], docs, claims: Object.fromEntries(this.#claims)};
  }

  /** Take in one change: the document's latest revision (or its deletion). */
  apply(id: string, doc: unknown, deleted: boolean): void {
    if (deleted || !isDataFile(doc as DataFileDoc)) {
      this.#docs.delete(id);
      this.#claims.delete(id);
      return;
    }
    const d = doc as DataFileDoc;
    const state = viewStateOf(d);
    this.#docs.set(id, placeKey(stageOf(d), state, d.edw?.failed?.step));
    const claim = d.edw?.claim;
    if (claim && typeof claim.step === 'string') this.#claims.set(id, [claim.step, claim.expires]);
    else this.#claims.delete(id);
  }

  /** Set a document's place as the stage view keys it (`[stage, state, id]`, value: the failed step). */
  placeFromView(key: [string, string, string], value: unknown): void {
    const [stage, state, id] = key;
    this.#docs.set(id, placeKey(stage, state, typeof value === 'string' ? value : undefined));
  }

  /** Documents per place; with `now` (epoch ms), the documents holding a claim live then are told apart by its step. */
  places(now?: number): Array<{place: Place; count: number}> {
    const tally = new Map<string, number>();
    for (const [id, place] of this.#docs) {
      const claim = now === undefined ? undefined : this.#claims.get(id);
      const key = claim && claim[1] > now! ? `${place}\t${claim[0]}` : place;
      tally.set(key, (tally.get(key) ?? 0) + 1);
    }
    return [...tally].map(([key, count]) => {
      const [stage, state, failedStep, claimedFor] = key.split('\t') as [string, Place['state'], string, string | undefined];
      return {place: {stage, state, ...(failedStep ? {failedStep} : {}), ...(claimedFor ? {claimedFor} : {})}, count};
    });
  }
}

export interface RefreshOptions {
  /** Changes read per request. @default 2000 */
  pageSize?: number;
  /** Write the result back for the next reader. @default true */
  save?: boolean;
  /**
   * With `save`: also write the counts reached so far during a long read, at most this often (ms),
   * so that a read cut short (a stop, a feed moving as fast as it is read) still leaves its progress
   * to the next reader. @default only at the end
   */
  saveEveryMs?: number;
  signal?: AbortSignal;
}

/** The saved counts (empty, at position 0, when there are none). */
export async function loadCounts(store: Store, signal?: AbortSignal): Promise<StageCounts> {
  return StageCounts.fromBody(await store.getLocal(COUNTS_ID, signal));
}

/**
 * Every data-file document's place read from the stage view (keys only, pages of `pageSize` rows),
 * at a feed position taken before the read (`seq`, default the position now; the CountsKeeper takes it
 * before its process's listeners start, so that every claim they write is on the feed after it): the
 * feed from there, applied on top, brings them to its end (a change applied twice changes nothing). On a busy
 * PouchDB database this is far lighter than reading the feed from 0, where PouchDB walks every
 * superseded revision and keeps each document's revision tree until the page ends (the bench's
 * chain at 20,000 documents, embedded: the listener's heap after GC ended at 25 MB this way, 57 MB
 * reading the feed from 0). Needs the view up to date
 * (a listener's sweeps keep it so): its first query brings it there. Claims are not read (the claims
 * view is kept by nobody, and building it at 100,000 documents took 16 s embedded): a claim taken
 * before the position shows from its next renewal or result on the feed, within one lease.
 */
export async function countsFromView(store: Store, options: {pageSize?: number; signal?: AbortSignal; seq?: string} = {}): Promise<StageCounts> {
  const counts = new StageCounts(options.seq ?? (await store.info(options.signal)).updateSeq);
  const pageSize = options.pageSize ?? 5000;
  let startkey: ViewKey | undefined;
  for (let update = true; ; update = false) {
    const {rows} = await store.query({design: DESIGN, view: 'stage', reduce: false, limit: pageSize, update, ...(startkey ? {startkey} : {}), signal: options.signal});
    options.signal?.throwIfAborted();
    // Each page starts at the last key of the one before (keys are unique: the id is in them).
    for (const [i, row] of rows.entries()) if (i > 0 || startkey === undefined) counts.placeFromView(row.key as [string, string, string], row.value);
    if (rows.length < pageSize) break;
    startkey = rows[rows.length - 1]!.key;
  }
  return counts;
}

/** Write `counts` for the next reader. */
export async function saveCounts(store: Store, counts: StageCounts, signal?: AbortSignal): Promise<void> {
  await store.putLocal(COUNTS_ID, {...counts.toBody(), saved_at: Date.now()} as unknown as Record<string, unknown>, signal);
}

/**
 * Bring `counts` up to the feed's end, page by page. With `checkpoint`, it is called (and awaited) at
 * most every `saveEveryMs` during a long read, and once at the end if the position moved since. With
 * `maxChanges`, it stops after the page that reaches that many changes. Resolves to whether it
 * reached the feed's end.
 */
export async function advanceCounts(store: Store, counts: StageCounts, options: Omit<RefreshOptions, 'save'> & {checkpoint?: () => Promise<void>; maxChanges?: number} = {}): Promise<boolean> {
  let saved = {seq: counts.seq, at: Date.now()};
  const checkpoint = async (): Promise<void> => {
    await options.checkpoint?.();
    saved = {seq: counts.seq, at: Date.now()};
  };
  let complete = false;
  const limit = options.pageSize ?? 2000;
  for (let read = 0; read < (options.maxChanges ?? Infinity);) {
    const page = await store.changes({since: counts.seq, includeDocs: true, limit, signal: options.signal});
    options.signal?.throwIfAborted(); // an in-process read does not watch the signal: stop between pages
    for (const change of page.results) counts.apply(change.id, change.doc, !!change.deleted);
    read += page.results.length;
    const moved = page.lastSeq !== counts.seq;
    counts.seq = page.lastSeq;
    // A short page is the end as of this read (asked for with maxChanges: no empty page after it).
    if (page.results.length === 0 || !moved || (options.maxChanges !== undefined && page.results.length < limit)) {
      complete = true;
      break;
    }
    if (options.saveEveryMs !== undefined && Date.now() - saved.at >= options.saveEveryMs) await checkpoint();
  }
  if (counts.seq !== saved.seq) await checkpoint();
  return complete;
}

/** Read the saved counts, bring them up to the feed's end, and save them if anything changed. */
export async function refreshCounts(store: Store, options: RefreshOptions = {}): Promise<StageCounts> {
  const counts = await loadCounts(store, options.signal);
  const save = options.save ?? true;
  await advanceCounts(store, counts, {...options, ...(save ? {checkpoint: () => saveCounts(store, counts, options.signal)} : {})});
  return counts;
}
