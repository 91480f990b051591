import {DESIGN} from '../design/index.js';
import type {Doc, Store} from '../store/index.js';

export interface DetectionsOptions {
  /** Rows read per view query: what is held in memory at once. @default 500 */
  pageSize?: number;
  signal?: AbortSignal;
}

/**
 * Detection documents with `from <= time <= to` (epoch seconds), in view order (time, then id), read
 * from the `detections` view one page at a time, so that any number of them takes the memory of one page.
 */
export async function* eachDetection(store: Store, from: number, to: number, options: DetectionsOptions = {}): AsyncGenerator<Doc> {
  const pageSize = options.pageSize ?? 500;
  if (!(Number.isInteger(pageSize) && pageSize >= 1)) throw new TypeError(`eachDetection option pageSize: expected a whole number of at least 1, got ${pageSize}`);
  // The store has no startkey_docid: a page starts at the last key seen and skips the rows of that key
  // already given (rows of one key come in id order). Later pages read the index as the first left it.
  let startkey = from;
  let seenAtKey = 0;
  for (let first = true; ; first = false) {
    const {rows} = await store.query({
      design: DESIGN, view: 'detections', startkey, endkey: to, includeDocs: true, limit: pageSize,
      ...(seenAtKey ? {skip: seenAtKey} : {}), ...(first ? {} : {update: false}), signal: options.signal,
    });
    for (const row of rows) {
      const key = row.key as number;
      seenAtKey = key === startkey ? seenAtKey + 1 : 1;
      startkey = key;
      if (row.doc) yield row.doc;
    }
    if (rows.length < pageSize) return;
  }
}
