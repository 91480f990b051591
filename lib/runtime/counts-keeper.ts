import {randomBytes} from 'node:crypto';
import {errorMessage} from '../errors/index.js';
import {advanceCounts, countsFromView, loadCounts, saveCounts, type StageCounts} from '../counts/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';

/** `_local` document naming the process that keeps the stage counts, and when it last did. */
export const COUNTS_KEEPER_ID = 'edw-counts-keeper';

export interface CountsKeeperOptions {
  store: Store;
  log: Logger;
  /** Milliseconds between refreshes. @default 2000 */
  intervalMs?: number;
  /** This process's identity (the Runner's claim owner). @default a random one */
  owner?: string;
  /** Changes read per request. @default 2000 */
  pageSize?: number;
  /** At stop, how long the keeper may go on reading the feed to its end before it saves. @default 5000 */
  finalReadMs?: number;
  /**
   * Where the first counts come from when none are saved: `view`, the stage view's keys (cheap where
   * the view is kept up to date, as a listener process's sweeps keep it, and lighter on memory), or
   * `feed`, the whole feed (cheapest on a database whose stage view nobody keeps, as under `edw serve`
   * alone: at 20,000 documents embedded 2.5 s, where building the view took 15 s). @default 'view'
   */
  firstCountsFrom?: 'view' | 'feed';
}

/**
 * Keeps the per-stage counts of `edw status` (lib/counts/counts.ts) close to the feed's end while a
 * listener process runs, so that a status at 100,000 documents reads a few seconds of feed rather
 * than all of it. Only where the server does not store view reductions (PouchDB, pouchdb-server):
 * CouchDB answers a status with one reduce and needs none of this.
 *
 * One process keeps them for the database: each refresh first reads `_local/edw-counts-keeper`, and
 * a process that finds another one named there, recently, leaves the work (and the memory) to it;
 * otherwise it names itself and goes on. The keeper holds the counts between refreshes (one entry
 * per document, about 100 bytes each) and reads only the feed since its last refresh. Two processes
 * that both start keeping at once both count the same feed, which changes nothing; the next refresh
 * leaves one.
 */
export class CountsKeeper {
  readonly #options: CountsKeeperOptions;
  readonly #intervalMs: number;
  readonly #saveEveryMs: number;
  readonly #owner: string;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #refreshing: Promise<void> = Promise.resolve();
  /** The counts, while this process keeps them. */
  #counts: StageCounts | undefined;
  /** The position of the counts this process last saved. */
  #savedSeq: string | undefined;
  #stopped: Promise<void> | undefined;
  /** The feed position when this keeper started: where counts read from the view start. */
  #startSeq: string | undefined;

  constructor(options: CountsKeeperOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 2000;
    if (!(this.#intervalMs > 0)) throw new TypeError(`CountsKeeper option intervalMs: expected a positive number, got ${this.#intervalMs}`);
    // A first refresh at 100,000 documents can chase a busy feed for minutes: it saves its progress.
    this.#saveEveryMs = Math.max(5000, this.#intervalMs);
    this.#owner = options.owner ?? randomBytes(6).toString('hex');
  }

  /** Whether this process keeps the counts now (it found no other keeper at its last refresh). */
  get keeping(): boolean {
    return this.#counts !== undefined;
  }

  /**
   * Start keeping. Resolves once the keeper has taken the feed position its first counts start from
   * (before its first refresh ends): a Runner starts its listeners after that, so that every claim
   * they write is on the feed after that position (counts from the stage view have no claims).
   */
  async start(): Promise<void> {
    const info = await this.#options.store.info().catch(() => undefined);
    if (info?.reductionsStored || this.#stopping.signal.aborted) return;
    this.#startSeq = info?.updateSeq;
    this.#timer = setInterval(() => this.#refresh(), this.#intervalMs);
    this.#timer.unref();
    // The first refresh now, while the listeners' start-up sweeps bring the stage view up to date: a
    // first read of it one interval later, with the chain running, brought it up to date a second
    // time for nobody else (on the embedded database a 1 s stall of the listeners at 10,000 documents).
    this.#refresh();
  }

  /**
   * Stop refreshing: a refresh under way is aborted; then, if this process keeps the counts, it reads
   * the feed to its end (the listeners have stopped writing; at most `finalReadMs`) and saves them, so
   * that the next `edw status` reads only what comes after. On a busy embedded database the keeper
   * runs seconds behind the feed (at 100,000 documents the first status after a run read 12,000
   * changes, 1.2 s). Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#timer);
      this.#stopping.abort();
      await this.#refreshing;
      const counts = this.#counts;
      if (!counts) return;
      const budget = new AbortController();
      const timer = setTimeout(() => budget.abort(), this.#options.finalReadMs ?? 5000);
      try {
        await advanceCounts(this.#options.store, counts, {signal: budget.signal, pageSize: this.#options.pageSize});
      } catch (error) {
        if (!budget.signal.aborted) this.#options.log.debug('stage counts not brought up to date at stop', {error: errorMessage(error)});
      } finally {
        clearTimeout(timer);
      }
      if (counts.seq === this.#savedSeq) return;
      try {
        await this.#save(counts);
      } catch (error) {
        this.#options.log.debug('stage counts not saved at stop', {error: errorMessage(error)});
      }
    })();
    return this.#stopped;
  }

  async #save(counts: StageCounts, signal?: AbortSignal): Promise<void> {
    const seq = counts.seq;
    await saveCounts(this.#options.store, counts, signal);
    this.#savedSeq = seq;
  }

  /** One refresh now (what the timer runs); resolves when it is done. For tests. */
  refreshNow(): Promise<void> {
    this.#refresh();
    return this.#refreshing;
  }

  #refresh(): void {
    // One at a time: a refresh slower than the interval (the first, at 100,000 documents) is not doubled.
    this.#refreshing = this.#refreshing.then(async () => {
      if (this.#stopping.signal.aborted) return;
      try {
        await this.#refreshOnce();
      } catch (error) {
        if (!this.#stopping.signal.aborted) this.#options.log.debug('stage counts not refreshed', {error: errorMessage(error)});
      }
    });
  }

  async #refreshOnce(): Promise<void> {
    const {store} = this.#options;
    const signal = this.#stopping.signal;
    const keeper = await store.getLocal(COUNTS_KEEPER_ID, signal);
    // Another process refreshed them lately: leave it to that one. Stale after missing a few refreshes
    // or a few saves of a long one.
    const staleMs = Math.max(3 * this.#intervalMs, 2 * this.#saveEveryMs);
    if (keeper && keeper.owner !== this.#owner && typeof keeper.at === 'number' && Date.now() - keeper.at < staleMs) {
      this.#counts = undefined;
      return;
    }
    const mark = (): Promise<void> => store.putLocal(COUNTS_KEEPER_ID, {owner: this.#owner, at: Date.now()}, signal);
    await mark();
    // Read the saved counts when taking over (another keeper may have moved them on since this one
    // held them); none saved yet: the stage view's keys, not the whole feed.
    if (!this.#counts || keeper?.owner !== this.#owner) {
      const saved = await loadCounts(store, signal);
      if (saved.seq === '0' && this.#options.firstCountsFrom !== 'feed') {
        this.#counts = await countsFromView(store, {signal, seq: this.#startSeq});
        await this.#save(this.#counts, signal);
      } else {
        this.#counts = saved;
        this.#savedSeq = saved.seq;
      }
    }
    const counts = this.#counts;
    await advanceCounts(store, counts, {
      signal, saveEveryMs: this.#saveEveryMs, pageSize: this.#options.pageSize,
      checkpoint: async () => {
        await this.#save(counts, signal);
        await mark();
      },
    });
  }
}
