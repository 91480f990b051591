import {errorMessage} from '../errors/index.js';
import {refreshCounts} from '../inspect/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';

export interface CountsKeeperOptions {
  store: Store;
  log: Logger;
  /** Milliseconds between refreshes. @default 2000 */
  intervalMs?: number;
}

/**
 * Keeps the per-stage counts of `edw status` (lib/inspect/counts.ts) close to the feed's end while a
 * listener process runs, so that a status at 100,000 documents reads a few seconds of feed rather
 * than all of it. Only where the server does not store view reductions (PouchDB, pouchdb-server):
 * CouchDB answers a status with one reduce and needs none of this.
 */
export class CountsKeeper {
  readonly #options: CountsKeeperOptions;
  readonly #intervalMs: number;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> = Promise.resolve();

  constructor(options: CountsKeeperOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 2000;
    if (!(this.#intervalMs > 0)) throw new TypeError(`CountsKeeper option intervalMs: expected a positive number, got ${this.#intervalMs}`);
  }

  async start(): Promise<void> {
    const info = await this.#options.store.info().catch(() => undefined);
    if (info?.reductionsStored || this.#stopping.signal.aborted) return;
    this.#timer = setInterval(() => this.#refresh(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stop refreshing; waits for a refresh under way to end (it is aborted). Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#stopping.abort();
    await this.#refreshing;
  }

  #refresh(): void {
    // One at a time: a refresh slower than the interval (the first, at 100,000 documents) is not doubled.
    this.#refreshing = this.#refreshing.then(async () => {
      if (this.#stopping.signal.aborted) return;
      try {
        // A first refresh at 100,000 documents can chase a busy feed for minutes: keep its progress.
        await refreshCounts(this.#options.store, {signal: this.#stopping.signal, saveEveryMs: Math.max(5000, this.#intervalMs)});
      } catch (error) {
        if (!this.#stopping.signal.aborted) this.#options.log.debug('stage counts not refreshed', {error: errorMessage(error)});
      }
    });
  }
}
