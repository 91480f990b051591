import {EventEmitter} from 'node:events';
import {hostname} from 'node:os';
import {randomBytes} from 'node:crypto';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import {StepListener} from './listener.js';
import type {StepEvent} from './events.js';
import type {ChainStep} from './step.js';
import {Heartbeat} from './heartbeat.js';
import {CountsKeeper} from './counts-keeper.js';
import {ConflictKeeper} from './conflict-keeper.js';
import {Reachability} from './reachability.js';
import {WriteBatcher} from './batcher.js';
import {SharedFeed} from './feed.js';
import {LeaseKeeper} from './lease-keeper.js';
import {Router} from './router.js';
import {DrainCheck, waitingAt} from './drain.js';

export interface RunnerOptions {
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
  /** How long a claim holds a document. @default 30000 */
  leaseMs?: number;
  /** Long-poll wait of one feed request (at most 1000 with `once`). @default 30000 */
  pollMs?: number;
  /** First delay before retrying a step that failed with an error that may pass. @default 1000 */
  backoffMs?: number;
  /** Cap on that delay, and on the delay between tries while the database is unreachable. @default 60000 */
  maxBackoffMs?: number;
  /** Changes per feed page and documents per view page, and how many may wait in a step's queue before the feed's are left to a sweep. @default 200 */
  pageSize?: number;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  now?: () => number;
  /** Milliseconds between heartbeat writes; 0 writes none. @default 10000 */
  heartbeatMs?: number;
  /**
   * Milliseconds between refreshes of the stage counts `edw status` reads on PouchDB and
   * pouchdb-server (see CountsKeeper); 0 keeps none. @default 2000
   */
  countsMs?: number;
  /** Least milliseconds between two saves of the feed's position (a stop saves the last one). @default 2000 */
  feedSaveMs?: number;
  /** Milliseconds between sweeps for conflicted documents at any stage (see ConflictKeeper); 0 sweeps none. @default 2000 */
  conflictsMs?: number;
  /** Sweep an embedded database for conflicts too (ConflictKeeper's `embedded`). @default false */
  conflictsOnEmbedded?: boolean;
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
 * Runs the steps of one process: one changes feed (SharedFeed) into one Router, which puts each
 * document in the queue of the step it waits at; one listener per step (its queue, its sweeps, its
 * attempts); one WriteBatcher for every write, one LeaseKeeper for every claim held. It decides when
 * the work is drained (DrainCheck): for `once` it then stops.
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
  #done: Promise<RunSummary> | undefined;
  #finish: (() => void) | undefined;
  #onceTimer: NodeJS.Timeout | undefined;
  #errors: unknown[] = [];
  readonly #heartbeat: Heartbeat | undefined;
  readonly #counts: CountsKeeper | undefined;
  readonly #conflicts: ConflictKeeper | undefined;
  readonly #feed: SharedFeed;
  readonly #router: Router;
  readonly #leases: LeaseKeeper;
  readonly #drain: DrainCheck;

  constructor(options: RunnerOptions) {
    super();
    this.#options = options;
    const {store, log} = options;
    const owner = options.owner ?? `${hostname()}:${process.pid}:${randomBytes(3).toString('hex')}`;
    const pollMs = options.once ? Math.min(options.pollMs ?? 30_000, 1000) : options.pollMs ?? 30_000;
    if (!(Number.isFinite(pollMs) && pollMs > 0)) throw new TypeError(`Runner option pollMs: expected a positive number, got ${pollMs}`);
    const leaseMs = options.leaseMs ?? 30_000;
    const reachability = new Reachability({log, backoffMs: Math.min(options.backoffMs ?? 1000, 1000), maxBackoffMs: options.maxBackoffMs});
    // One batcher for the process: claims, renewals and results of every step share `_bulk_docs` requests.
    const batcher = new WriteBatcher({store});
    const write = (doc: Parameters<WriteBatcher['put']>[0], signal?: AbortSignal): Promise<string> => batcher.put(doc, signal);
    this.#feed = new SharedFeed({store, log, steps: options.steps, reachability, pageSize: options.pageSize ?? 200, pollMs, saveEveryMs: options.feedSaveMs});
    this.#router = new Router({owner, leaseMs, now: options.now});
    this.#leases = new LeaseKeeper({store, log, owner, leaseMs, write, now: options.now});
    this.stepListeners = options.steps.map((step) => new StepListener({
      store, step, log, owner, leaseMs, backoffMs: options.backoffMs, maxBackoffMs: options.maxBackoffMs, pageSize: options.pageSize,
      now: options.now, reachability, write, leases: this.#leases, router: this.#router, feed: this.#feed,
    }));
    this.#drain = new DrainCheck({
      store, log, listeners: this.stepListeners, once: options.once,
      drained: (first) => {
        if (first) this.emit('caught-up', this.progress);
        if (options.once) void this.stop();
      },
    });
    // After an outage the listeners sweep again; catching up with what came meanwhile is news again.
    reachability.on('back', () => this.#drain.reset());
    if (options.heartbeatMs !== 0) {
      this.#heartbeat = new Heartbeat({
        store, owner, log, intervalMs: options.heartbeatMs,
        state: () => ({listeners: this.stepListeners.map((l) => l.state), completed: this.#summary.completed, failed: this.#summary.failed.length}),
      });
    }
    if (options.countsMs !== 0) this.#counts = new CountsKeeper({store, log, intervalMs: options.countsMs, owner});
    if (options.conflictsMs !== 0) {
      this.#conflicts = new ConflictKeeper({store, log, intervalMs: options.conflictsMs, owner, embedded: options.conflictsOnEmbedded});
      this.#conflicts.on('merged', (event: {id: string}) => this.emit('conflicts-merged', event));
    }
    for (const listener of this.stepListeners) this.#count(listener);
  }

  /** Count what `listener` does, and look whether the work is drained whenever it is idle. */
  #count(listener: StepListener): void {
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
    listener.on('idle', () => void this.#drain.check());
    listener.on('error', (error: unknown) => {
      this.#errors.push(error);
      void this.stop();
    });
  }

  get progress(): Progress {
    const steps = Object.fromEntries(Object.entries(this.#steps).map(([name, counts]) => [name, {...counts}]));
    return {steps, running: this.stepListeners.reduce((n, l) => n + l.busy, 0)};
  }

  /** Per step, the documents waiting at its stage now (ready, claimed, or waiting for a retry), from the stage view. */
  async waiting(): Promise<Record<string, number>> {
    const counts: Record<string, number> = {};
    for (const listener of this.stepListeners) counts[listener.step.name] = await waitingAt(this.#options.store, listener.step.after);
    return counts;
  }

  /** Start every listener; resolves with what was done once they have all stopped. Rejects if a listener died of an error. */
  run(): Promise<RunSummary> {
    this.#done ??= new Promise<RunSummary>((resolve, reject) => {
      this.#finish = () => {
        if (this.#errors.length > 0) reject(this.#errors[0]);
        else resolve(this.#summary);
      };
      // The counts keeper takes its feed position before any listener can write a claim.
      void (this.#counts?.start() ?? Promise.resolve()).then(() => {
        if (this.#stopping) return;
        this.#feed.start(this.#router).catch((error: unknown) => {
          this.#options.log.error('changes feed stopped by an error', {error: errorMessage(error)});
          this.#errors.push(error);
          void this.stop();
        });
        for (const listener of this.stepListeners) void listener.start();
      });
      this.#heartbeat?.start();
      this.#conflicts?.start();
      if (this.#options.once) {
        // Besides idle events, look now and then: work held by another listener's claim ends by time.
        this.#onceTimer = setInterval(() => void this.#drain.check(), 1000);
      }
    });
    return this.#done;
  }

  #stopping: Promise<void> | undefined;

  /** Stop taking work, let running steps finish within `timeoutMs`, save positions. Idempotent. */
  stop(timeoutMs = 30_000): Promise<void> {
    this.#stopping ??= (async () => {
      this.#drain.stop();
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
      this.#leases.stop();
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
}
