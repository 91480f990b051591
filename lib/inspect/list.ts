import {ConfigError, NotFoundError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf, viewStateOf, type DataFileDoc} from '../pipeline/index.js';
import type {Store, ViewKey} from '../store/index.js';
import {docStateOf, VIEW_STATES, type DocState} from './states.js';

export interface ListOptions {
  stage: string;
  /** The configured steps in chain order: they tell a document waiting at a stage from one done. */
  steps: readonly string[];
  /** Only documents in this state at the stage (what `edw status` counts in that cell). @default every state */
  state?: DocState;
  /** Only documents of this run. @default every run */
  run?: string;
  /** @default 100 */
  limit?: number;
  /** Start after this document id (the last one of the previous page). */
  after?: string;
  /** The time a claim must outlive to count as in progress (epoch ms). @default now */
  now?: number;
  /** Documents read per request, and at most handed to `onPage` at once. @default 200 */
  pageSize?: number;
}

/** A listed document and its state at the stage. */
export interface Listed {
  doc: DataFileDoc;
  state: DocState;
}

/** How a listing ended. */
export interface ListEnd {
  /** When more documents match than `limit`: the id to continue after (`--after`). */
  next?: string;
}

/**
 * Documents at a stage (in one state, or all), handed to `onPage` page by page as they are read, so
 * that a long listing is held in memory one page at a time. Order: the stage view's (state, then id;
 * documents in progress by id). `after` continues from a previous page; `next` says where the next starts.
 */
export async function listDocuments(store: Store, options: ListOptions, onPage: (page: Listed[]) => void | Promise<void>): Promise<ListEnd> {
  const limit = options.limit ?? 100;
  const pageSize = options.pageSize ?? 200;
  const now = options.now ?? Date.now();
  let listed = 0;
  let last: string | undefined;
  // One row more than the page still to fill, to know whether another page follows; not fewer than
  // 50, since rows of other runs or states may be skipped.
  const wanted = (): number => Math.min(pageSize, Math.max(limit - listed + 1, 50));
  for await (const docs of candidates(store, options, wanted)) {
    const page: Listed[] = [];
    for (const doc of docs) {
      if (!isDataFile(doc) || stageOf(doc) !== options.stage) continue; // moved since the view was read
      if (options.run !== undefined && doc.run !== options.run) continue;
      const state = docStateOf(doc, options.steps, now);
      if (options.state !== undefined && state !== options.state) continue;
      if (listed === limit) {
        if (page.length) await onPage(page);
        return {next: last};
      }
      page.push({doc, state});
      listed++;
      last = doc._id;
    }
    if (page.length) await onPage(page);
  }
  return {};
}

/** Whether any data-file document stands at `stage`. */
export async function stageHasDocuments(store: Store, stage: string): Promise<boolean> {
  const {rows} = await store.query({design: DESIGN, view: 'stage', reduce: false, startkey: [stage], endkey: [stage, {}], limit: 1});
  return rows.length > 0;
}

/** Pages of documents that may match: the stage view's range for the state, or the claimed documents. */
function candidates(store: Store, options: ListOptions, rows: () => number): AsyncGenerator<DataFileDoc[]> {
  const {stage, state, after} = options;
  if (state === 'in_progress') return claimedDocuments(store, after, options.pageSize ?? 200, options.now ?? Date.now());
  if (state !== undefined) {
    const viewState = VIEW_STATES[state][0]!;
    return viewRange(store, after === undefined ? [stage, viewState] : [stage, viewState, after], [stage, viewState, {}], rows);
  }
  return (async function* () {
    yield* viewRange(store, after === undefined ? [stage] : await keyOf(store, stage, after), [stage, {}], rows);
  })();
}

/** The stage-view key of document `id`, which must stand at `stage`. */
async function keyOf(store: Store, stage: string, id: string): Promise<ViewKey> {
  const doc = await store.get(id);
  if (!isDataFile(doc)) throw new NotFoundError(`--after ${id}: no such data-file document`);
  if (stageOf(doc) !== stage) throw new ConfigError(`--after ${id}: that document is at stage ${stageOf(doc)}, not ${stage}`);
  return [stage, viewStateOf(doc), doc._id];
}

/** The documents of a stage-view key range, `rows()` at a time, the start key itself left out. */
async function* viewRange(store: Store, startkey: ViewKey, endkey: ViewKey, rows: () => number): AsyncGenerator<DataFileDoc[]> {
  let start = startkey;
  for (;;) {
    // Keys are unique (the id is in them): each page starts at the last key of the one before.
    const limit = rows() + 1;
    const result = await store.query({design: DESIGN, view: 'stage', reduce: false, includeDocs: true, limit, startkey: start, endkey});
    const startJson = JSON.stringify(start);
    yield result.rows.filter((row) => JSON.stringify(row.key) !== startJson).map((row) => row.doc as DataFileDoc);
    const lastRow = result.rows[result.rows.length - 1];
    if (result.rows.length < limit || !lastRow) return;
    start = lastRow.key;
  }
}

/** Documents holding a live claim, by id (the claims view's rows are as many as the steps running). */
async function* claimedDocuments(store: Store, after: string | undefined, pageSize: number, now: number): AsyncGenerator<DataFileDoc[]> {
  const {rows} = await store.query({design: DESIGN, view: 'claims'});
  const ids = rows
    .filter((row) => typeof row.value === 'number' && row.value > now && row.id !== undefined && (after === undefined || row.id > after))
    .map((row) => row.id!)
    .sort();
  for (let i = 0; i < ids.length; i += pageSize) {
    yield (await store.getMany(ids.slice(i, i + pageSize))).filter((doc): doc is DataFileDoc => isDataFile(doc));
  }
}
