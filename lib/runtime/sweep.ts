import {DESIGN} from '../design/index.js';
import type {Doc, Store, ViewResult} from '../store/index.js';

export interface SweepOptions {
  store: Store;
  /** The stage whose waiting documents are read (the step's `after`). */
  stage: string;
  /** Rows per view query. */
  pageSize: number;
  /** Ends the sweep between pages. */
  signal: AbortSignal;
  /** Runs each query; undefined means give up (the listener's outage-proof call, which stops on `signal`). */
  call: (what: string, query: () => Promise<ViewResult>) => Promise<ViewResult | undefined>;
  /** Takes each waiting document (with its `_conflicts`). */
  take: (doc: Doc) => void;
  /** Resolves when there is room for another page. */
  room: () => Promise<void>;
}

/**
 * Read every document waiting at `stage` (ready, or waiting for a retry) from the stage view, page by
 * page, and hand each to `take`. The first query brings the index up to date (past the feed position
 * the caller read before the sweep); the later ones read it as it stands: re-indexing every write made
 * meanwhile would only find changes the feed delivers anyway, and on PouchDB it costs more than the
 * sweep itself.
 */
export async function sweepStage(options: SweepOptions): Promise<void> {
  const {store, stage, pageSize} = options;
  let update = true;
  for (const state of ['ready', 'retry']) {
    // Keys are [stage, state, id]: each page starts just after the last key of the one before.
    let startkey: unknown[] = [stage, state];
    while (!options.signal.aborted) {
      const result = await options.call('sweep the stage view', () => store.query({
        design: DESIGN, view: 'stage', startkey, endkey: [stage, state, {}],
        reduce: false, includeDocs: true, conflicts: true, limit: pageSize, update,
      }));
      if (!result) return;
      update = false;
      const last = result.rows[result.rows.length - 1];
      for (const row of result.rows) {
        if (row.doc && JSON.stringify(row.key) !== JSON.stringify(startkey)) options.take(row.doc);
      }
      if (result.rows.length < pageSize || !last) break;
      startkey = last.key as unknown[];
      await options.room();
    }
  }
}
