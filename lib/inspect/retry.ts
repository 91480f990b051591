import {NotFoundError} from '../errors/index.js';
import {DESIGN} from '../design/index.js';
import {isDataFile, type DataFileDoc} from '../pipeline/index.js';
import {updateDocument} from '../runtime/index.js';
import type {Store} from '../store/index.js';

export type RetryVerdict = 'retried' | 'not-failed';

/** Make a document that failed for good runnable again (its failed entries stay in `process`). */
export async function retryDocument(store: Store, id: string): Promise<RetryVerdict> {
  let verdict: RetryVerdict = 'not-failed';
  let found = false;
  await updateDocument(store, id, (doc) => {
    found = isDataFile(doc);
    verdict = 'not-failed';
    if (!isDataFile(doc) || !doc.edw?.failed) return null;
    const {failed: _failed, retry: _retry, ...edw} = doc.edw;
    verdict = 'retried';
    return {...doc, edw} as DataFileDoc;
  });
  if (!found) throw new NotFoundError(`no data-file document ${id}`);
  return verdict;
}

/** Ids of documents failed for good at `step` (which follows stage `after`). */
export async function failedAt(store: Store, step: string, after: string): Promise<string[]> {
  const result = await store.query({design: DESIGN, view: 'stage', startkey: [after, 'failed'], endkey: [after, 'failed', {}], reduce: false});
  return result.rows.filter((row) => row.value === step).map((row) => row.id!);
}

/** What `retryDocuments` did with one document: retried, left (it had not failed), or not found. */
export interface RetryOutcome {
  id: string;
  verdict: RetryVerdict | 'not-found';
}

/**
 * Retry documents one after the other, in the order given: `edw retry` and `POST /api/v1/retry`. A
 * missing document is an outcome, not an error, so the others are still retried.
 */
export async function retryDocuments(store: Store, ids: readonly string[], onOutcome?: (outcome: RetryOutcome) => void): Promise<RetryOutcome[]> {
  const outcomes: RetryOutcome[] = [];
  for (const id of ids) {
    let outcome: RetryOutcome;
    try {
      outcome = {id, verdict: await retryDocument(store, id)};
    } catch (error) {
      if (!(error instanceof NotFoundError)) throw error;
      outcome = {id, verdict: 'not-found'};
    }
    outcomes.push(outcome);
    onOutcome?.(outcome);
  }
  return outcomes;
}
