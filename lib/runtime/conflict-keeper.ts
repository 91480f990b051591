import {EventEmitter} from 'node:events';
import {randomBytes} from 'node:crypto';
import {CONFLICTS_ID, parseConflictsState, saveConflictsState, scanConflicts, type ConflictsState} from '../conflicts/index.js';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {isServerUrl, type Store} from '../store/index.js';
import {resolveConflicts} from './conflicts.js';

export interface ConflictKeeperOptions {
  store: Store;
  log: Logger;
  /** Milliseconds between sweeps. @default 2000 */
  intervalMs?: number;
  /** This process's identity (the Runner's claim owner). @default a random one */
  owner?: string;
  /** Changes read per request. @default 1000 */
  pageSize?: number;
  /** Pages one sweep reads at most before it merges what it found and saves its position (the rest is the next sweep's). @default 50 */
  maxPages?: number;
  /**
   * Sweep an embedded database too. Off by default: nothing replicates into a folder a listener
   * holds, so it never gets conflicts, and reading its whole feed again costs the listener process
   * CPU for every change (3,000-5,000 changes/s here). @default false
   */
  embedded?: boolean;
}

/**
 * Finds documents with replication conflicts, at any stage (the final one included, where no listener
 * ever looks), and merges them (resolveConflicts: every revision's history kept, losing revisions
 * deleted). Listeners merge the documents their feed shows them before they work on them; this covers
 * the rest, on every backend: a CouchDB cluster makes conflicts while nodes are down or catching up,
 * and a replicated PouchDB or CouchDB can receive them.
 *
 * One process sweeps per database, like the counts keeper: each sweep first reads
 * `_local/edw-conflicts`; a process that finds another one named there, recently, leaves the work to
 * it. The document also holds how far the feed was read and which documents were left conflicted, so
 * a sweep reads only the feed since the last one (leaf revisions only, no bodies). Two processes that
 * both sweep at once merge the same documents the same way (the merge is deterministic; a lost race
 * is a 409, read again); the next sweep leaves one.
 *
 * Events: `merged` ({id}) for each document merged.
 */
export class ConflictKeeper extends EventEmitter {
  readonly #options: ConflictKeeperOptions;
  readonly #intervalMs: number;
  readonly #owner: string;
  readonly #stopping = new AbortController();
  #timer: NodeJS.Timeout | undefined;
  #sweeping: Promise<void> = Promise.resolve();
  #keeping = false;
  #stopped: Promise<void> | undefined;

  constructor(options: ConflictKeeperOptions) {
    super();
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 2000;
    if (!(this.#intervalMs > 0)) throw new TypeError(`ConflictKeeper option intervalMs: expected a positive number, got ${this.#intervalMs}`);
    this.#owner = options.owner ?? randomBytes(6).toString('hex');
  }

  /** Whether this process swept at its last turn (it found no other keeper at work). */
  get keeping(): boolean {
    return this.#keeping;
  }

  start(): void {
    if (this.#stopping.signal.aborted || this.#timer) return;
    if (!this.#options.embedded && !isServerUrl(this.#options.store.location)) return;
    this.#timer = setInterval(() => this.#sweep(), this.#intervalMs);
    this.#timer.unref();
    this.#sweep();
  }

  /**
   * Stop sweeping; a sweep under way is aborted (what it merged stays merged). If this process was
   * the keeper it says it is no longer, so another process takes over at its next sweep rather than
   * after the keeper goes stale. Idempotent.
   */
  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      clearInterval(this.#timer);
      this.#stopping.abort();
      await this.#sweeping;
      if (!this.#keeping) return;
      try {
        const {store} = this.#options;
        // Bounded: a stop while the database is unreachable must not wait on it.
        const signal = AbortSignal.timeout(5000);
        const saved = parseConflictsState(await store.getLocal(CONFLICTS_ID, signal));
        if (saved?.owner === this.#owner) await saveConflictsState(store, {...saved, owner: '', at: 0}, signal);
      } catch (error) {
        this.#options.log.debug('conflict keeper not released at stop', {error: errorMessage(error)});
      }
    })();
    return this.#stopped;
  }

  /** One sweep now (what the timer runs); resolves when it is done. For tests. */
  sweepNow(): Promise<void> {
    this.#sweep();
    return this.#sweeping;
  }

  #sweep(): void {
    // One at a time: a sweep slower than the interval is not doubled.
    this.#sweeping = this.#sweeping.then(async () => {
      if (this.#stopping.signal.aborted) return;
      try {
        await this.#sweepOnce();
      } catch (error) {
        // A cluster with nodes down answers `progress not possible`; the next sweep tries again.
        if (!this.#stopping.signal.aborted) this.#options.log.debug('conflicts not swept', {error: errorMessage(error)});
      }
    });
  }

  async #sweepOnce(): Promise<void> {
    const {store, log} = this.#options;
    const signal = this.#stopping.signal;
    const saved = parseConflictsState(await store.getLocal(CONFLICTS_ID, signal));
    // Another process swept lately: leave it to that one. Stale after missing a few sweeps.
    if (saved && saved.owner !== this.#owner && saved.owner !== '' && Date.now() - saved.at < 3 * this.#intervalMs + 10_000) {
      this.#keeping = false;
      return;
    }
    const save = (state: Omit<ConflictsState, 'owner' | 'at'>): Promise<void> => saveConflictsState(store, {owner: this.#owner, at: Date.now(), ...state}, signal);
    // Taking over: say so first, so that others leave it while this sweep reads.
    if (saved?.owner !== this.#owner) await save({seq: saved?.seq ?? '0', ids: saved?.ids ?? [], suspects: saved?.suspects ?? {}});
    this.#keeping = true;
    const scan = await scanConflicts(store, {since: saved?.seq, known: saved?.ids, suspects: saved?.suspects, pageSize: this.#options.pageSize, maxPages: this.#options.maxPages ?? 50, signal});
    const left: string[] = [];
    for (const id of scan.conflicted) {
      try {
        await resolveConflicts(store, id, signal);
        log.info('conflicts merged', {docId: id});
        this.emit('merged', {id});
      } catch (error) {
        if (signal.aborted) throw error;
        left.push(id);
        log.warn('conflicts not merged, will try again', {docId: id, error: errorMessage(error)});
      }
    }
    await save({seq: scan.seq, ids: left, suspects: scan.suspects});
  }
}
