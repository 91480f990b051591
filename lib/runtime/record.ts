import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {DataFileDoc} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import {ClaimLostError, withoutClaim} from './claim.js';
import type {Reachability} from './reachability.js';
import {updateDocument, type Write} from './update.js';

/** What writing under a claim came to: the document written (null: it already showed the change), or why not. */
export type Recorded = {doc: DataFileDoc | null} | 'lost' | 'stopped';

/**
 * Write a change under the claim's token, through 409s and outages: the document written (null if
 * `change` found nothing to do), `lost` if another listener holds the claim now, `stopped` if the
 * hard stop (`aborting`) came first.
 * `change` returns null when the document already shows the change: a write whose answer was lost
 * (connection dropped after the server wrote it) is retried, meets a 409, and finds itself there.
 */
export async function recordUnderClaim(
  ctx: {store: Store; reach: Reachability; write: Write; aborting: AbortSignal},
  id: string, current: DataFileDoc, log: Logger, change: (doc: DataFileDoc | null) => DataFileDoc | null,
): Promise<Recorded> {
  try {
    const written = await ctx.reach.call('record the result',
      () => updateDocument(ctx.store, id, (doc) => change(doc as DataFileDoc | null), {current, write: ctx.write}), ctx.aborting);
    return written === undefined ? 'stopped' : {doc: written as DataFileDoc | null};
  } catch (error) {
    if (error instanceof ClaimLostError) {
      log.warn('result refused: claim lost', {error: error.message});
      return 'lost';
    }
    throw error;
  }
}

/**
 * Drop claim `token` without recording anything (stopping). One try, outside the stop's abort: if it
 * fails, the lease runs out and another listener takes over.
 */
export async function giveBack(ctx: {store: Store; owner: string}, id: string, token: number, log: Logger): Promise<void> {
  try {
    await updateDocument(ctx.store, id, (doc) => withoutClaim(doc as DataFileDoc | null, token, ctx.owner));
    log.info('step interrupted by stop, document given back');
  } catch (error) {
    log.warn('step interrupted by stop, claim left to expire', {error: errorMessage(error)});
  }
}
