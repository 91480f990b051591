import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {DataFileDoc} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {ClaimLostError, withRenewedClaim} from './claim.js';
import {StepInterrupted} from './execute.js';
import {updateDocument, type Write} from './update.js';

export interface LeaseKeeperOptions {
  store: Store;
  log: Logger;
  /** This process's identity in claims (the owner every lease it keeps was taken under). */
  owner: string;
  /** How long a claim holds a document; each is renewed less than a third of this after the last write of it. @default 30000 */
  leaseMs?: number;
  /**
   * How to write: the process's WriteBatcher `put`, so that the renewals due at one tick (and the
   * claims and results asked for meanwhile) go out as one `_bulk_docs`. @default store.put
   */
  write?: Write;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  now?: () => number;
}

/** A claim the keeper renews while its step runs. */
export interface Lease {
  /** The latest revision written under the claim (the claim, then each renewal): the base of the result write. */
  readonly doc: DataFileDoc;
  /** Aborts, with a `claim-lost` StepInterrupted, when a renewal finds the claim taken over. */
  readonly signal: AbortSignal;
  /** Stop renewing it (the step has ended). */
  release(): void;
}

interface Held {
  doc: DataFileDoc;
  token: number;
  /** When the claim or its last renewal was written (epoch ms, by this process's clock). */
  writtenAt: number;
  renewing: boolean;
  lost: AbortController;
}

/**
 * Keeps every claim this process holds alive while its step runs: one timer for the process, and the
 * renewals that are due at a tick written together (through the batcher, one `_bulk_docs`), rather
 * than a timer and a request per document. Each renewal is written with the revision in hand and
 * still checks the token: one that finds another holder aborts that step's lease signal, so the step
 * stops working on a document another listener has taken over.
 *
 * Timing: the keeper ticks every sixth of the lease and renews a claim once a sixth to a third of the
 * lease has passed since it was last written, so a renewal is never later than a third of the lease
 * (two can come late before another listener may take the document over), and a claim taken just
 * before a tick is not renewed at once.
 */
export class LeaseKeeper {
  readonly #options: LeaseKeeperOptions;
  readonly #leaseMs: number;
  readonly #tickMs: number;
  readonly #now: () => number;
  readonly #held = new Set<Held>();
  #timer: NodeJS.Timeout | undefined;
  #stopped = false;

  constructor(options: LeaseKeeperOptions) {
    this.#options = options;
    this.#leaseMs = options.leaseMs ?? 30_000;
    if (!(Number.isFinite(this.#leaseMs) && this.#leaseMs > 0)) throw new TypeError(`LeaseKeeper option leaseMs: expected a positive number, got ${this.#leaseMs}`);
    this.#tickMs = Math.max(5, Math.floor(this.#leaseMs / 6));
    this.#now = options.now ?? Date.now;
  }

  /** Claims renewed now. */
  get size(): number {
    return this.#held.size;
  }

  /** Keep claim `token` on `doc` (the revision that wrote it) alive until the lease is released. */
  hold(doc: DataFileDoc, token: number): Lease {
    // Written when its lease began: a hand-over that waited in its queue is due sooner than a fresh claim.
    const expires = doc.edw?.claim?.token === token ? doc.edw.claim.expires : undefined;
    const writtenAt = Math.min(this.#now(), expires === undefined ? Infinity : expires - this.#leaseMs);
    const held: Held = {doc, token, writtenAt, renewing: false, lost: new AbortController()};
    this.#held.add(held);
    this.#tick();
    return {
      get doc() {
        return held.doc;
      },
      signal: held.lost.signal,
      release: () => {
        this.#held.delete(held);
        if (this.#held.size === 0) this.#clear();
      },
    };
  }

  /** Renew nothing more (the process stops; its steps have ended). Idempotent. */
  stop(): void {
    this.#stopped = true;
    this.#held.clear();
    this.#clear();
  }

  /** Keep a timer while anything is held; none otherwise, so an idle process wakes for nothing. */
  #tick(): void {
    if (this.#timer || this.#stopped || this.#held.size === 0) return;
    this.#timer = setInterval(() => this.#renewDue(), this.#tickMs);
    this.#timer.unref();
  }

  #clear(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }

  #renewDue(): void {
    const now = this.#now();
    const dueAfter = this.#leaseMs / 3 - this.#tickMs;
    // Asked for in one turn of the event loop: the batcher sends them as one request.
    for (const held of this.#held) if (!held.renewing && now - held.writtenAt >= dueAfter) void this.#renew(held, now);
  }

  async #renew(held: Held, now: number): Promise<void> {
    const {store, owner, write, log} = this.#options;
    held.renewing = true;
    const change = (doc: Doc | null): Doc => withRenewedClaim(doc as DataFileDoc | null, held.token, owner, now + this.#leaseMs);
    try {
      const written = await updateDocument(store, held.doc._id, change, {current: held.doc, write});
      if (written) {
        held.doc = written as DataFileDoc;
        held.writtenAt = now;
      }
    } catch (error) {
      if (error instanceof ClaimLostError) {
        // Another listener holds it now: nothing more to renew; the step sees the signal and ends.
        this.#held.delete(held);
        held.lost.abort(new StepInterrupted('claim-lost', error.message));
      } else log.warn('lease not renewed', {docId: held.doc._id, error: errorMessage(error)});
    } finally {
      held.renewing = false;
    }
  }
}
