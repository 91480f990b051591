import {AuthError, ConflictError, EdwError, ForbiddenError, UnavailableError} from '../errors/index.js';
import type {Doc, Store, WriteOutcome} from '../store/index.js';

export interface WriteBatcherOptions {
  store: Store;
  /** Most documents in one `_bulk_docs` request. @default 200 */
  maxBatch?: number;
  /**
   * Requests in flight at once. More than one lets a server with several cores work on two batches at
   * once (CouchDB validates each document of a batch in turn, ~2 ms each on this kind of machine), at
   * the price of smaller batches. @default 2
   */
  maxInFlight?: number;
}

interface Pending {
  doc: Doc;
  resolve: (rev: string) => void;
  reject: (error: unknown) => void;
  signal?: AbortSignal;
}

/**
 * Single-document writes sent together: writes asked for in the same turn of the event loop, or while
 * the previous request is in flight (group commit), go out as one `_bulk_docs`. Each document still
 * wins or loses on its own revision: `put` resolves with the new revision or throws what `Store.put`
 * would (ConflictError on a stale `_rev`, ForbiddenError when validation refuses it), so a caller
 * uses it exactly as it would use `store.put`. A single write costs one request, as before; under
 * load one request carries up to `maxBatch` of them.
 */
export class WriteBatcher {
  readonly #store: Store;
  readonly #maxBatch: number;
  #pending: Pending[] = [];
  readonly #maxInFlight: number;
  #scheduled = false;
  #inFlight = 0;

  constructor(options: WriteBatcherOptions) {
    this.#store = options.store;
    this.#maxBatch = options.maxBatch ?? 200;
    if (!(Number.isInteger(this.#maxBatch) && this.#maxBatch > 0)) throw new TypeError(`WriteBatcher option maxBatch: expected a positive integer, got ${this.#maxBatch}`);
    this.#maxInFlight = options.maxInFlight ?? 2;
    if (!(Number.isInteger(this.#maxInFlight) && this.#maxInFlight > 0)) throw new TypeError(`WriteBatcher option maxInFlight: expected a positive integer, got ${this.#maxInFlight}`);
  }

  /** Write one document (with its `_rev`), batched with others; the same contract as `Store.put`. */
  put(doc: Doc, signal?: AbortSignal): Promise<string> {
    if (signal?.aborted) return Promise.reject(signal.reason);
    return new Promise<string>((resolve, reject) => {
      this.#pending.push({doc, resolve, reject, signal});
      this.#schedule();
    });
  }

  #schedule(): void {
    if (this.#scheduled || this.#inFlight >= this.#maxInFlight) return;
    this.#scheduled = true;
    // setImmediate, not a microtask: let every task woken in this turn add its write first.
    setImmediate(() => {
      this.#scheduled = false;
      this.#inFlight++;
      void this.#flush().finally(() => {
        this.#inFlight--;
        if (this.#pending.length > 0) this.#schedule();
      });
      // Room for another request: what comes meanwhile goes in it.
      if (this.#pending.length > 0) this.#schedule();
    });
  }

  async #flush(): Promise<void> {
    // One revision per document per request: a second write of a document waits for the next batch.
    const batch: Pending[] = [];
    const ids = new Set<string>();
    const rest: Pending[] = [];
    for (const p of this.#pending) {
      if (p.signal?.aborted) p.reject(p.signal.reason);
      else if (batch.length < this.#maxBatch && !ids.has(p.doc._id)) {
        ids.add(p.doc._id);
        batch.push(p);
      } else rest.push(p);
    }
    this.#pending = rest;
    if (batch.length === 0) return;
    if (batch.length === 1) {
      // One document alone goes as a plain PUT: the same cost, and the store's own errors for it.
      const [only] = batch;
      await this.#store.put(only!.doc).then(only!.resolve, only!.reject);
      return;
    }
    let outcomes: WriteOutcome[];
    try {
      outcomes = await this.#store.bulkWrite(batch.map((p) => p.doc));
    } catch (error) {
      for (const p of batch) p.reject(error);
      return;
    }
    batch.forEach((p, i) => {
      const outcome = outcomes[i]!;
      if (outcome.ok) p.resolve(outcome.rev);
      else p.reject(outcomeError(outcome));
    });
  }
}

function outcomeError(outcome: Extract<WriteOutcome, {ok: false}>): EdwError {
  const message = `write ${outcome.id}: ${outcome.reason}`;
  switch (outcome.error) {
    case 'conflict':
      return new ConflictError(message);
    case 'forbidden':
      return new ForbiddenError(message);
    case 'unauthorized':
      return new AuthError(message);
    case 'unavailable':
      // A cluster's shard copies could not take it now: retried like an outage.
      return new UnavailableError(message);
    default:
      return new EdwError(message);
  }
}
