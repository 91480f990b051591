import {hostname} from 'node:os';
import {DESIGN} from '../design/index.js';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Doc, Store} from '../store/index.js';
import type {Reachability} from './reachability.js';

/** Where the feed's documents go (the process's Router). */
export interface FeedSink {
  /**
   * One page of changes' documents; resolves once each is handled (run, found not to need running, or
   * left to a sweep), which is when the feed may save a position past them. `empty`: the page had no changes.
   */
  routePage(docs: Doc[], empty: boolean): Promise<void>;
}

export interface SharedFeedOptions {
  store: Store;
  log: Logger;
  /** The steps of the process: their stages make the filter, their names the saved position's id. */
  steps: ReadonlyArray<{name: string; after: string}>;
  reachability: Reachability;
  /** Changes per request. */
  pageSize: number;
  /** Long-poll wait of one request, in ms. */
  pollMs: number;
  /**
   * Least time between two saves of the position, in ms: each save is a write (an fsync on CouchDB),
   * and a position a few seconds old only costs a restart a replay of those seconds. A stop saves the
   * last position handled. @default 2000
   */
  saveEveryMs?: number;
}

/**
 * What the `stages` filter passes, as a Mango selector (a superset: the stage is chosen here), for
 * the servers that evaluate selectors natively. On CouchDB 3.5 a JavaScript filter costs ~1 ms of
 * the server's CPU per change scanned (940 changes/s), the selector ~0.1 ms (8,960/s).
 */
const DATA_FILES: Record<string, unknown> = {status: 'good', process: {$type: 'array'}};

/**
 * The changes feed of one listener process: one filtered feed for every step it runs (filter
 * `edw/stages`), each page given to the router, which puts each document in the queue of the step
 * at its stage. A database reads each change once per process rather than once per step (on PouchDB
 * and pouchdb-server every filtered feed reads every change, and that was most of the server's work
 * in the chain benchmark).
 *
 * Its position is saved in `_local/edw-feed-<steps>-<host>` only after every change before it is
 * handled, at most every `saveEveryMs`, and at a stop. Saving it is never needed for correctness: at
 * start every listener sweeps the stage view, which finds whatever waits whether the feed showed it or not.
 */
export class SharedFeed {
  readonly #options: SharedFeedOptions;
  readonly #stages: string;
  readonly #checkpointId: string;
  /** Stops the loop (soft stop). */
  readonly #stopping = new AbortController();
  /** Cuts a position save short (hard stop). */
  readonly #abortSaves = new AbortController();
  #since: string | undefined;
  #checkpoints: Promise<void> = Promise.resolve();
  /** The last position whose changes are all handled, and the last one saved. */
  #handled: string | undefined;
  #saved: string | undefined;
  #savedAt = 0;
  #loop: Promise<void> | undefined;
  #wait: AbortController | undefined;
  #positioned!: (since: string | undefined) => void;
  /** The position the feed starts from, once read; undefined if stopped before. */
  readonly positioned = new Promise<string | undefined>((resolve) => {
    this.#positioned = resolve;
  });

  constructor(options: SharedFeedOptions) {
    this.#options = options;
    this.#stages = `,${[...new Set(options.steps.map((s) => s.after))].join(',')},`;
    this.#checkpointId = `edw-feed-${options.steps.map((s) => s.name).join('+')}-${hostname()}`;
  }

  /** The position it reads from (opaque), undefined before it has one. */
  get since(): string | undefined {
    return this.#since;
  }

  /** Read the saved position (or the database's current one), then follow the feed into `sink` until stopped. */
  start(sink: FeedSink): Promise<void> {
    this.#loop ??= this.#run(sink).finally(() => this.#positioned(undefined));
    return this.#loop;
  }

  /**
   * Stop reading, then save the position once what was offered is handled (the listeners' own stop
   * ends their work). `hard` cuts that save short.
   */
  async stop(hard?: AbortSignal): Promise<void> {
    this.#stopping.abort();
    this.#wait?.abort();
    if (hard?.aborted) this.#abortSaves.abort();
    else hard?.addEventListener('abort', () => this.#abortSaves.abort(), {once: true});
    // A loop ended by an error has been reported by whoever started it.
    await this.#loop?.catch(() => {});
    await this.#checkpoints;
    // The last position handled, if a save was skipped for time.
    if (this.#handled !== undefined && this.#handled !== this.#saved) await this.#save(this.#handled);
  }

  /** Save `seq` (outlasting outages, cut short only by a hard stop); a failure is logged, never worse than a replay. */
  async #save(seq: string): Promise<void> {
    const {store, reachability} = this.#options;
    try {
      await reachability.call('save the feed position', () => store.putLocal(this.#checkpointId, {seq, steps: this.#options.steps.map((s) => s.name)}), this.#abortSaves.signal);
      this.#saved = seq;
      this.#savedAt = Date.now();
    } catch (error) {
      // The start-up sweep finds whatever the position missed.
      this.#options.log.warn('feed position not saved', {error: errorMessage(error)});
    }
  }

  /** Cut the saving of positions short now (the listeners were aborted). */
  abort(): void {
    this.#abortSaves.abort();
    void this.stop();
  }

  async #run(sink: FeedSink): Promise<void> {
    const {store, reachability} = this.#options;
    const signal = this.#stopping.signal;
    let since = await reachability.call('read the feed position', async () => {
      const saved = await store.getLocal(this.#checkpointId);
      return typeof saved?.seq === 'string' ? saved.seq : (await store.info()).updateSeq;
    }, signal);
    if (since === undefined) return;
    this.#since = since;
    this.#positioned(since);
    while (!signal.aborted) {
      const wait = new AbortController();
      this.#wait = wait;
      const page = await reachability.call('read the feed', () => store.changes({
        since: since!,
        filter: {name: `${DESIGN}/stages`, params: {stages: this.#stages}},
        selector: DATA_FILES,
        includeDocs: true,
        conflicts: true,
        limit: this.#options.pageSize,
        waitMs: this.#options.pollMs,
        signal: wait.signal,
      }), wait.signal);
      this.#wait = undefined;
      if (!page) continue;
      const handled = sink.routePage(page.results.flatMap((change) => (change.doc ? [change.doc] : [])), page.results.length === 0);
      if (page.lastSeq !== since) {
        const seq: string = page.lastSeq;
        since = seq;
        this.#since = seq;
        // Saved in order, only once every change of this page (and of the pages before) is handled, and
        // at most every saveEveryMs (the stop saves the last one).
        this.#checkpoints = this.#checkpoints
          .then(() => handled)
          .then(async () => {
            this.#handled = seq;
            if (Date.now() - this.#savedAt >= (this.#options.saveEveryMs ?? 2000)) await this.#save(seq);
          })
          .catch((error: unknown) => void this.#options.log.warn('feed position not saved', {error: errorMessage(error)}));
      }
    }
  }
}
