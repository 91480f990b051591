import {ConflictError, ForbiddenError} from '../errors/index.js';
import type {Doc, Store} from '../store/index.js';

/** How a write goes out: `store.put`, or a WriteBatcher's `put` (same contract). */
export type Write = (doc: Doc, signal?: AbortSignal) => Promise<string>;

export interface UpdateOptions {
  /** The copy already in hand; used for the first try instead of a read. */
  current?: Doc | null;
  /**
   * How to write: `store.put`, or a WriteBatcher's `put` (same contract) so that writes of many
   * documents share requests. @default store.put
   */
  write?: Write;
  /** Give up after this many 409s in a row. @default 50 */
  maxConflicts?: number;
  signal?: AbortSignal;
}

/**
 * Read-modify-write that survives 409s: `change` gets the current document (null if missing) and
 * returns the new one, or null to write nothing. On a conflict the document is read again and `change`
 * applied again, so whatever it checks holds for the revision actually written.
 * Returns the written document (with its new `_rev`) or null when nothing was written.
 */
export async function updateDocument(store: Store, id: string, change: (doc: Doc | null) => Doc | null, options: UpdateOptions = {}): Promise<Doc | null> {
  let current = options.current !== undefined ? options.current : await store.get(id, {signal: options.signal});
  for (let conflicts = 0; ; conflicts++) {
    const next = change(current);
    if (!next) return null;
    try {
      const rev = await (options.write ? options.write(next, options.signal) : store.put(next, options.signal));
      return {...next, _rev: rev};
    } catch (error) {
      const stale = error instanceof ConflictError || (error instanceof ForbiddenError && (await isStale(store, id, next, options.signal)));
      if (!stale || conflicts >= (options.maxConflicts ?? 50)) throw error;
      current = await store.get(id, {signal: options.signal});
    }
  }
}

/**
 * Whether a refused write was based on a revision that is no longer the current one. pouchdb-server
 * runs validate_doc_update against the latest revision before its own revision check, so a stale
 * write can come back as 403 rather than 409: it is a conflict all the same.
 */
async function isStale(store: Store, id: string, attempted: Doc, signal?: AbortSignal): Promise<boolean> {
  const latest = await store.get(id, {signal});
  return (latest?._rev ?? undefined) !== (attempted._rev ?? undefined);
}
