import {ConfigError, NotFoundError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf, type DataFileDoc} from '../pipeline/index.js';
import type {Store, ViewKey} from '../store/index.js';
import {DOC_STATES, docCellOf, INSIDE_STATES, nextStep, stagesInside, type DocState, type ViewState} from './states.js';

export interface ListOptions {
  /** The row of `edw status` to list: `new` or a step (or a stage no configured step follows any more). */
  stage: string;
  /** The configured steps in chain order: they tell a document waiting at a stage from one done, and which step a document is inside. */
  steps: readonly string[];
  /** Only documents in this state in the row (what `edw status` counts in that cell). @default every state */
  state?: DocState;
  /** Only documents of this run. @default every run */
  run?: string;
  /** @default 100 */
  limit?: number;
  /** Start after this document id (the last one of the previous page). */
  after?: string;
  /**
   * Where in the row `after` was listed (the previous page's `ListEnd.nextSource`): with it the listing
   * goes on from there even if that document has moved since; without it the document is looked up
   * and must still be in the row. @default looked up
   */
  afterSource?: string;
  /** The time a claim must outlive to count as in progress (epoch ms). @default now */
  now?: number;
  /** Documents read per request, and at most handed to `onPage` at once. @default 200 */
  pageSize?: number;
}

/** A listed document and its state in the row. */
export interface Listed {
  doc: DataFileDoc;
  state: DocState;
}

/** How a listing ended. */
export interface ListEnd {
  /** When more documents match than `limit`: the id to continue after (`--after`). */
  next?: string;
  /** With `next`: where in the row it was listed (`--after-source`), so that its moving on does not matter. */
  nextSource?: string;
}

/**
 * Where the documents of one state of a row are read from: a stage-view range (the row's own stage for
 * waiting, done and bad; the stage before the step for retrying and failed), or the claims (in progress).
 */
interface Source {
  state: DocState;
  /** The stage whose view range is read; none for the claimed documents. */
  stage?: string;
}

/** A source's name in `--after-source`: `in_progress`, or the state and the stage read, `failed@new`. */
function sourceKey(source: Source): string {
  return source.stage === undefined ? source.state : `${source.state}@${source.stage}`;
}

/** The stage-view state the documents of a state other than in progress are keyed under. */
const VIEW_STATE: Record<Exclude<DocState, 'in_progress'>, ViewState> = {waiting: 'ready', done: 'ready', bad: 'bad', excluded: 'excluded', failed: 'failed', retrying: 'retry'};

/** The sources of a row's documents in one state (or in every state), in the order they are listed. */
function sourcesOf(steps: readonly string[], row: string, state: DocState | undefined): Source[] {
  const followed = nextStep(steps, row) !== undefined;
  return (state ? [state] : DOC_STATES).flatMap((s): Source[] => {
    // Waiting and done documents share the view's range: read it once, for the one a row can hold.
    if ((s === 'waiting' && !followed) || (s === 'done' && followed)) return [];
    if (s === 'in_progress') return [{state: s}];
    if (INSIDE_STATES.includes(s)) return stagesInside(steps, row).map((stage) => ({state: s, stage}));
    return [{state: s, stage: row}];
  });
}

/**
 * The documents of a row of `edw status` (in one state, or all), handed to `onPage` page by page as
 * they are read, so that a long listing is held in memory one page at a time. Order: by state (as
 * the status columns), then stage, then id. `after` continues from a previous page; `next` says
 * where the next starts.
 */
export async function listDocuments(store: Store, options: ListOptions, onPage: (page: Listed[]) => void | Promise<void>): Promise<ListEnd> {
  const limit = options.limit ?? 100;
  const pageSize = options.pageSize ?? 200;
  const now = options.now ?? Date.now();
  const sources = sourcesOf(options.steps, options.stage, options.state);
  let first = 0;
  if (options.after !== undefined && options.afterSource !== undefined) {
    first = sources.findIndex((source) => sourceKey(source) === options.afterSource);
    if (first < 0) throw new ConfigError(`--after-source ${options.afterSource}: not a part of row ${options.stage} (${sources.map(sourceKey).join(', ')})`);
  } else if (options.after !== undefined && sources.length > 1) {
    first = await sourceAfter(store, options, sources, now);
  }
  let listed = 0;
  let last: string | undefined;
  let lastSource: string | undefined;
  // One row more than the page still to fill, to know whether another page follows; not fewer than
  // 50, since rows of other runs or states may be skipped.
  const wanted = (): number => Math.min(pageSize, Math.max(limit - listed + 1, 50));
  for (const [i, source] of sources.entries()) {
    if (i < first) continue;
    const after = i === first ? options.after : undefined;
    for await (const docs of candidates(store, source, after, wanted, pageSize, now)) {
      const page: Listed[] = [];
      for (const doc of docs) {
        if (!isDataFile(doc)) continue;
        // The state decides the source: a document read from another (it moved since) is left out.
        const {row, state} = docCellOf(doc, options.steps, now);
        if (row !== options.stage || state !== source.state) continue;
        if (options.run !== undefined && doc.run !== options.run) continue;
        if (listed === limit) {
          if (page.length) await onPage(page);
          return {next: last, nextSource: lastSource};
        }
        page.push({doc, state});
        listed++;
        last = doc._id;
        lastSource = sourceKey(source);
      }
      if (page.length) await onPage(page);
    }
  }
  return {};
}

/** Whether any data-file document stands at `stage`. */
export async function stageHasDocuments(store: Store, stage: string): Promise<boolean> {
  const {rows} = await store.query({design: DESIGN, view: 'stage', reduce: false, startkey: [stage], endkey: [stage, {}], limit: 1});
  return rows.length > 0;
}

/** Refuse a stage that is neither `new`, nor a step of the chain, nor where any document stands (a step since removed). */
export async function checkStage(store: Store, steps: readonly string[], stage: string): Promise<void> {
  const known = ['new', ...steps];
  if (!known.includes(stage) && !(await stageHasDocuments(store, stage))) throw new ConfigError(`unknown stage ${stage} (stages: ${known.join(', ')})`);
}

/** The index of the source document `options.after` is listed from, which must be in the row now. */
async function sourceAfter(store: Store, options: ListOptions, sources: Source[], now: number): Promise<number> {
  const id = options.after!;
  const doc = await store.get(id);
  if (!isDataFile(doc)) throw new NotFoundError(`--after ${id}: no such data-file document`);
  const {row, state} = docCellOf(doc, options.steps, now);
  const stage = stageOf(doc);
  const i = sources.findIndex((s) => s.state === state && (s.stage === undefined || s.stage === stage));
  if (row !== options.stage || i < 0) throw new ConfigError(`--after ${id}: that document is in row ${row} (${state}) now, not ${options.stage}; list from the start`);
  return i;
}

/** Pages of documents that may come from `source`, after document `after` if given. */
function candidates(store: Store, source: Source, after: string | undefined, rows: () => number, pageSize: number, now: number): AsyncGenerator<DataFileDoc[]> {
  if (source.stage === undefined) return claimedDocuments(store, after, pageSize, now);
  const {stage} = source;
  const viewState = VIEW_STATE[source.state as Exclude<DocState, 'in_progress'>];
  return viewRange(store, after === undefined ? [stage, viewState] : [stage, viewState, after], [stage, viewState, {}], rows);
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
