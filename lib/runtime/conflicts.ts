import {EdwError} from '../errors/index.js';
import {isDataFile, mergeRevisions, type DataFileDoc} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';

/**
 * Resolve a document's replication conflicts: merge every revision's `process` into the winning one
 * (mergeRevisions) and delete the losing revisions, in one bulk write. Returns the merged document,
 * or the document as it is when it has no conflicts. A write that loses a race is tried again.
 */
export async function resolveConflicts(store: Store, id: string, signal?: AbortSignal): Promise<Doc | null> {
  for (let attempt = 0; attempt < 10; attempt++) {
    const winner = await store.get(id, {conflicts: true, signal});
    const losingRevs = winner?._conflicts ?? [];
    if (!winner || losingRevs.length === 0) return winner;
    const losers = (await Promise.all(losingRevs.map((rev) => store.get(id, {rev, signal})))).filter((d): d is Doc => !!d);
    const merged = isDataFile(winner) ? mergeRevisions(winner, losers.filter(isDataFile) as DataFileDoc[]) : (({_conflicts, ...rest}) => rest)(winner);
    const outcomes = await store.bulkWrite([merged, ...losers.map((l) => ({_id: id, _rev: l._rev, _deleted: true}))], signal);
    if (outcomes.every((o) => o.ok)) return {...merged, _rev: (outcomes[0] as {rev: string}).rev};
    // Someone wrote meanwhile (or a loser was already deleted): read again and merge again.
  }
  throw new EdwError(`conflicts of document ${id} could not be resolved after 10 tries`);
}
