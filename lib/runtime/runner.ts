import {EventEmitter} from 'node:events';
import {DESIGN} from '../design/index.js';
import {hostname} from 'node:os';
import {randomBytes} from 'node:crypto';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import {StepListener, type ListenerOptions, type StepEvent} from './listener.js';
import type {ChainStep} from './step.js';
import {Heartbeat} from './heartbeat.js';
import {CountsKeeper} from './counts-keeper.js';
import {ConflictKeeper} from './conflict-keeper.js';
import {Reachability} from './reachability.js';
import {WriteBatcher} from './batcher.js';
import {SharedFeed} from './feed.js';

export interface RunnerOptions extends Omit<ListenerOptions, 'step' | 'owner' | 'feed'> {
  store: Store;
  /** The steps to run, in chain order. */
  steps: ChainStep[];
  log: Logger;
  /** Identity in claims. @default host:pid:random */
  owner?: string;
  /**
   * Stop by itself once no document waits at any of the steps' stages (ready, claimed, or waiting for a
   * retry), checked in chain order so that a document moving forward is always seen. @default false
   */
  once?: boolean;
  /** Milliseconds between heartbeat writes; 0 writes none. @default 10000 */
  heartbeatMs?: number;
  /**
   * Milliseconds between refreshes of the stage counts `edw status` reads on PouchDB and
   * pouchdb-server (see CountsKeeper); 0 keeps none. @default 2000
   */
  countsMs?: number;
  /** Milliseconds between sweeps for conflicted documents at any stage (see ConflictKeeper); 0 sweeps none. @default 2000 */
  conflictsMs?: number;
}

export interface RunSummary {
  completed: number;
  retried: number;
  /** Documents that failed for good during this run. */
  failed: StepEvent[];
}

/** What one step did in this run. */
export interface StepCounts {
  completed: number;
  /** Documents that failed for good. */
  failed: number;
  /** Failed attempts that will be tried again. */
  retried: number;
}

/** Counts, for progress lines. */
export interface Progress {
  /** Per step, in chain order. */
  steps: Record<string, StepCounts>;
  /** Documents queued or running in this process's listeners. */
  running: number;
}

/**
 * Runs one listener per step in this process, fed by one changes feed (SharedFeed), and decides when
 * the work is drained: for `once` it then stops.
 *
 * Events: `progress` (a document completed, failed or will be retried), `caught-up` (nothing waits at
 * any of the steps' stages: once after start, and again after each outage), `conflicts-merged` ({id}:
 * the conflict keeper merged a document's conflicting revisions).
 */
export class Runner extends EventEmitter {
  readonly stepListeners: StepListener[];
  readonly #options: RunnerOptions;
  readonly #summary: RunSummary = {completed: 0, retried: 0, failed: []};
  readonly #steps: Record<string, StepCounts> = {};
  /** Drained since the start or the last outage; until then every idle listener makes it look. */
  #caughtUp = false;
  #checking = false;
  #recheck = false;
  #done: Promise<RunSummary> | undefined;
  #finish: (() => void) | undefined;
  #onceTimer: NodeJS.Timeout | undefined;
  #errors: unknown[] = [];
  readonly #heartbeat: Heartbeat | undefined;
  readonly #counts: CountsKeeper | undefined;
  readonly #conflicts: ConflictKeeper | undefined;
  readonly #feed: SharedFeed;

  constructor(options: RunnerOptions) {
    super();
    this.#options = options;
    const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    const pollMs = options.once ? Math.min(options.pollMs ?? 30_000, 1000) : options.pollMs;
    const reachability = new Reachability({log: options.log, backoffMs: Math.min(options.backoffMs ?? 1000, 1000), maxBackoffMs: options.maxBackoffMs});
    // One batcher for the process: claims and results of every step share `_bulk_docs` requests.
    const batcher = new WriteBatcher({store: options.store});
    const feed = new SharedFeed({store: options.store, log: options.log, steps: options.steps, reachability, pageSize: options.pageSize ?? 200, pollMs: pollMs ?? 30_000});
    this.#feed = feed;
    // After an outage the listeners sweep again; catching up with what came meanwhile is news again.
    reachability.on('back', () => {
      this.#caughtUp = false;
    });
    this.stepListeners = options.steps.map((step) => new StepListener({...options, pollMs, step, owner, reachability, batcher, feed}));
    // A step's result write also claims the document for the step after it, when exactly one step here follows it.
    for (const listener of this.stepListeners) {
      const following = this.stepListeners.filter((l) => l.step.after === listener.step.name);
      if (following.length === 1) listener.handOffTo(following[0]!);
    }
    if (options.heartbeatMs !== 0) {
      this.#heartbeat = new Heartbeat({
        store: options.store, owner, log: options.log, intervalMs: options.heartbeatMs,
        state: () => ({listeners: this.stepListeners.map((l) => l.state), completed: this.#summary.completed, failed: this.#summary.failed.length}),
      });
    }
    if (options.countsMs !== 0) this.#counts = new CountsKeeper({store: options.store, log: options.log, intervalMs: options.countsMs, owner});
    if (options.conflictsMs !== 0) {
      this.#conflicts = new ConflictKeeper({store: options.store, log: options.log, intervalMs: options.conflictsMs, owner});
      this.#conflicts.on('merged', (event: {id: string}) => this.emit('conflicts-merged', event));
    }
    for (const listener of this.stepListeners) {
      const counts: StepCounts = {completed: 0, failed: 0, retried: 0};
      this.#steps[listener.step.name] = counts;
      listener.on('completed', () => {
        this.#summary.completed++;
        counts.completed++;
        this.emit('progress', this.progress);
      });
      listener.on('retrying', () => {
        this.#summary.retried++;
        counts.retried++;
        this.emit('progress', this.progress);
      });
      listener.on('failed', (event: StepEvent) => {
        this.#summary.failed.push(event);
        counts.failed++;
        this.emit('progress', this.progress);
      });
      listener.on('idle', () => void this.#checkDrained());
      listener.on('error', (error: unknown) => {
        this.#errors.push(error);
        void this.stop();
      });
    }
  }

  get progress(): Progress {
    const steps = Object.fromEntries(Object.entries(this.#steps).map(([name, counts]) => [name, {...counts}]));
    return {steps, running: this.stepListeners.reduce((n, l) => n + l.busy, 0)};
  }

  /** Per step, the documents waiting at its stage now (ready, claimed, or waiting for a retry), from the stage view. */
  async waiting(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const listener of this.stepListeners) counts[listener.step.name] = await this.#waitingAt(listener.step.after);
    return counts;
  }

  async #waitingAt(stage: string): Promise<number> {
    // 'ready' and 'retry' are adjacent keys, so one range counts both ('bad' and 'failed' sort before).
    const result = await this.#options.store.query({design: DESIGN, view: 'stage', startkey: [stage, 'ready'], endkey: [stage, 'retry', {}], reduce: true});
    return Number(result.rows[0]?.value ?? 0);
  }

  /** Start every listener; resolves with what was done once they have all stopped. Rejects if a listener died of an error. */
  run(): Promise<RunSummary> {
    this.#done ??= new Promise<RunSummary>((resolve, reject) => {
      this.#finish = () => {
        if (this.#errors.length > 0) reject(this.#errors[0]);
        else resolve(this.#summary);
      };
      this.#feed.start(this.stepListeners).catch((error: unknown) => {
        this.#options.log.error('changes feed stopped by an error', {error: errorMessage(error)});
        this.#errors.push(error);
        void this.stop();
      });
      for (const listener of this.stepListeners) void listener.start();
      this.#heartbeat?.start();
      void this.#counts?.start();
      this.#conflicts?.start();
      if (this.#options.once) {
        // Besides idle events, look now and then: work held by another listener's claim ends by time.
        this.#onceTimer = setInterval(() => void this.#checkDrained(), 1000);
      }
    });
    return this.#done;
  }

  #stopping: Promise<void> | undefined;

  /** Stop taking work, let running steps finish within `timeoutMs`, save positions. Idempotent. */
  stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping ??= (async () => {
      clearInterval(this.#onceTimer);
      // The feed's last position is saved once the listeners have handled what it gave them, unless
      // that takes past the timeout (the database may be unreachable).
      const hard = new AbortController();
      const timer = setTimeout(() => hard.abort(), timeoutMs);
      try {
        await Promise.all([this.#feed.stop(hard.signal), ...this.stepListeners.map((l) => l.stop(timeoutMs))]);
      } finally {
        clearTimeout(timer);
      }
      await this.#heartbeat?.stop();
      await this.#counts?.stop();
      await this.#conflicts?.stop();
      this.#finish?.();
    })();
    return this.#stopping;
  }

  /** Abort running steps now (their documents are given back) and stop. */
  abort(): void {
    for (const listener of this.stepListeners) listener.abort();
    this.#feed.abort();
    void this.stop(0);
  }

  /**
   * Whether nothing waits at any step's stage; checked in chain order, so a document moving on is
   * never missed. A daemon looks until it has caught up (and again after an outage), `once` until it stops.
   */
  async #checkDrained(): Promise<void> {
    if (this.#stopping || (this.#caughtUp && !this.#options.once)) return;
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    this.#checking = true;
    try {
      do {
        this.#recheck = false;
        if (await this.#drained()) {
          if (!this.#caughtUp) {
            this.#caughtUp = true;
            this.emit('caught-up', this.progress);
          }
          if (this.#options.once) void this.stop();
          return;
        }
      } while (this.#recheck);
    } catch (error) {
      // A daemon only looks to say it has caught up: an outage is said once by the listeners' Reachability.
      this.#options.log[this.#options.once ? 'warn' : 'debug']('could not check for waiting work', {error: errorMessage(error)});
    } finally {
      this.#checking = false;
    }
  }

  async #drained(): Promise<boolean> {
    const busy = this.stepListeners.filter((l) => l.busy > 0).map((l) => l.step.name);
    if (busy.length > 0) {
      this.#options.log.debug('not drained: steps running', {steps: busy});
      return false;
    }
    for (const listener of this.stepListeners) {
      const waiting = await this.#waitingAt(listener.step.after);
      this.#options.log.debug('waiting at stage', {stage: listener.step.after, waiting});
      if (waiting > 0) {
        // `once` must not wait on a document the feed did not show; a daemon's listeners sweep when a claim or retry time comes anyway.
        if (this.#options.once) listener.requestSweep();
        return false;
      }
    }
    return this.stepListeners.every((l) => l.busy === 0);
  }
}
