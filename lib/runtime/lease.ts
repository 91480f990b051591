import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {DataFileDoc} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {ClaimLostError, withRenewedClaim} from './claim.js';
import {StepInterrupted} from './execute.js';
import {updateDocument} from './update.js';

export interface LeaseOptions {
  store: Store;
  /** The copy of the document in hand: read as the base of each renewal, replaced by what it writes. */
  held: {doc: DataFileDoc};
  /** How to write (a WriteBatcher's put, so that many leases share requests). @default store.put */
  write?: (doc: Doc, signal?: AbortSignal) => Promise<string>;
  id: string;
  token: number;
  owner: string;
  leaseMs: number;
  now: () => number;
  log: Logger;
}

/**
 * Keep a claim's lease alive while its step runs: renew it every third of the lease. The returned
 * signal aborts (with a `claim-lost` StepInterrupted) when a renewal finds another token: another
 * listener took the document over, so this one must stop working on it.
 */
export function keepLease(options: LeaseOptions): {signal: AbortSignal; stop(): void} {
  const lost = new AbortController();
  const timer = setInterval(() => {
    const change = (doc: Doc | null): Doc => withRenewedClaim(doc as DataFileDoc | null, options.token, options.owner, options.now() + options.leaseMs);
    void updateDocument(options.store, options.id, change, {current: options.held.doc, write: options.write})
      .then((written) => {
        if (written) options.held.doc = written as DataFileDoc;
      })
      .catch((error: unknown) => {
        if (error instanceof ClaimLostError) lost.abort(new StepInterrupted('claim-lost', error.message));
        else options.log.warn('lease not renewed', {error: errorMessage(error)});
      });
  }, Math.max(10, Math.floor(options.leaseMs / 3)));
  return {signal: lost.signal, stop: () => clearInterval(timer)};
}
