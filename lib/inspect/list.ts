import {ConfigError, NotFoundError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf, viewStateOf, type DataFileDoc} from '../pipeline/index.js';
import type {Store} from '../store/index.js';

export interface ListOptions {
  stage: string;
  /** Only documents failed for good at the step after this stage. @default false */
  failed?: boolean;
  run?: string;
  /** @default 100 */
  limit?: number;
  /** Start after this document id (the last one of the previous page). */
  after?: string;
}

/** Documents at a stage, in view order (state, then id); `after` continues from a previous page. */
export async function listDocuments(store: Store, options: ListOptions): Promise<DataFileDoc[]> {
  const limit = options.limit ?? 100;
  const endkey: unknown[] = options.failed ? [options.stage, 'failed', {}] : [options.stage, {}];
  let startkey: unknown[] = options.failed ? [options.stage, 'failed'] : [options.stage];
  if (options.after) {
    const doc = await store.get(options.after);
    if (!isDataFile(doc)) throw new NotFoundError(`--after ${options.after}: no such data-file document`);
    if (stageOf(doc) !== options.stage) throw new ConfigError(`--after ${options.after}: that document is at stage ${stageOf(doc)}, not ${options.stage}`);
    startkey = [options.stage, viewStateOf(doc), doc._id];
  }
  const out: DataFileDoc[] = [];
  for (;;) {
    const page = Math.max(limit - out.length, 50);
    const result = await store.query({design: DESIGN, view: 'stage', reduce: false, includeDocs: true, limit: page + 1, startkey, endkey});
    const rows = result.rows.filter((row) => JSON.stringify(row.key) !== JSON.stringify(startkey));
    for (const row of rows) {
      const doc = row.doc;
      if (!isDataFile(doc) || (options.run !== undefined && doc.run !== options.run)) continue;
      out.push(doc);
      if (out.length >= limit) return out;
    }
    const last = result.rows[result.rows.length - 1];
    if (result.rows.length < page + 1 || !last) return out;
    startkey = last.key as unknown[];
  }
}
