import {hostname, userInfo} from 'node:os';
import {isDataFile, type DataFileDoc} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';

/** The design document of the provenance views (design-docs/edw-provenance). */
export const PROVENANCE_DESIGN = 'edw-provenance';

/** Who does something, as recorded with periods, reprocessing and selections: `user@host`. */
export function whoAmI(): string {
  let user = 'unknown';
  try {
    user = userInfo().username;
  } catch {
    // No passwd entry for this uid (a container): the host still says where.
  }
  return `${user}@${hostname()}`;
}

/** Documents read and written per request when marking files. */
const BATCH = 200;

/**
 * Apply `change` to each data-file document of `ids` (null: leave it as it is), in `_bulk_docs`
 * batches; a document written meanwhile by someone else (a listener recording a step) is read again
 * and changed again. Returns the ids written.
 */
export async function changeFiles(store: Store, ids: readonly string[], change: (doc: DataFileDoc) => DataFileDoc | null): Promise<string[]> {
  const written: string[] = [];
  for (let start = 0; start < ids.length; start += BATCH) {
    let pending = ids.slice(start, start + BATCH);
    for (let round = 0; pending.length > 0; round++) {
      const docs = await store.getMany(pending);
      const writes = docs.flatMap((doc): Doc[] => {
        if (!isDataFile(doc)) return [];
        const next = change(doc);
        return next ? [next] : [];
      });
      const outcomes = writes.length ? await store.bulkWrite(writes) : [];
      pending = [];
      outcomes.forEach((outcome, i) => {
        if (outcome.ok) written.push(writes[i]!._id);
        else if (outcome.error === 'conflict' && round < 50) pending.push(writes[i]!._id);
        else throw new Error(`document ${writes[i]!._id} was refused: ${outcome.reason}`);
      });
    }
  }
  return written;
}

/** The ids of a view's rows for `key` (or the range), read page by page. */
export async function idsOf(store: Store, view: string, range: {key?: unknown; startkey?: unknown; endkey?: unknown}): Promise<string[]> {
  const result = await store.query({design: PROVENANCE_DESIGN, view, ...range, reduce: false});
  return result.rows.map((row) => row.id!).filter(Boolean);
}
