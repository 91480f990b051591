import {EventEmitter, setMaxListeners} from 'node:events';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {readiness} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {runAttempt, type AttemptContext, type AttemptOutcome} from './attempt.js';
import {StepInterrupted} from './execute.js';
import type {ListenerState, StepEvent} from './events.js';
import type {SharedFeed} from './feed.js';
import type {LeaseKeeper} from './lease-keeper.js';
import type {Reachability} from './reachability.js';
import type {Reservation, Router} from './router.js';
import type {ChainStep} from './step.js';
import {StepQueue, type Job} from './step-queue.js';
import {sweepStage} from './sweep.js';
import {SweepSchedule} from './sweep-schedule.js';
import type {Write} from './update.js';

export interface ListenerOptions {
  store: Store;
  step: ChainStep;
  log: Logger;
  /** This process's identity in claims; unique per process. */
  owner: string;
  /** How long a claim holds a document. @default 30000 */
  leaseMs?: number;
  /** First delay before retrying a step that failed with an error that may pass. @default 1000 */
  backoffMs?: number;
  /** Cap on that delay. @default 60000 */
  maxBackoffMs?: number;
  /** Documents per view page, and how many may wait in its queue before the feed's are left to a sweep. @default 200 */
  pageSize?: number;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  now?: () => number;
  /** The process's, so that an outage is logged once (and each listener sweeps when it ends). */
  reachability: Reachability;
  /** How claims and results are written: the process's WriteBatcher `put`. */
  write: Write;
  /** The process's lease keeper, which renews the claims of running steps. */
  leases: LeaseKeeper;
  /** The process's router: this listener's queue is added to it; hand-overs go through it. */
  router: Router;
  /** The process's changes feed: its position comes before the first sweep. */
  feed: Pick<SharedFeed, 'positioned' | 'since'>;
}

/**
 * One step of the process: its queue (StepQueue, fed by the router), its sweeps (SweepSchedule), and
 * the attempts it runs (runAttempt), whose outcomes it reports and passes back to the router.
 *
 * Events: `started` (StepEvent without entry), `completed`, `retrying`, `failed` (StepEvent),
 * `lost` (StepEvent without entry: another listener took the claim over, the result was dropped),
 * `idle` (no work queued or running: after a feed page, the start-up sweep, or when the queue empties).
 */
export class StepListener extends EventEmitter {
  readonly step: ChainStep;
  readonly #options: ListenerOptions;
  readonly #log: Logger;
  readonly #now: () => number;
  readonly #pageSize: number;
  readonly #context: AttemptContext;
  readonly #queue: StepQueue;
  readonly #sweeps: SweepSchedule;
  /** Stops taking work (soft stop). */
  readonly #stopping = new AbortController();
  /** Aborts running steps (hard stop, or the soft stop's timeout). */
  readonly #aborting = new AbortController();
  #lastProgress: string | null = null;
  #loop: Promise<void> | undefined;
  #stopped: Promise<void> | undefined;

  constructor(options: ListenerOptions) {
    super();
    const {step} = options;
    this.step = step;
    this.#options = options;
    this.#log = options.log.child({step: step.name});
    this.#now = options.now ?? Date.now;
    this.#pageSize = options.pageSize ?? 200;
    const leaseMs = options.leaseMs ?? 30_000;
    for (const [name, value] of Object.entries({leaseMs, backoffMs: options.backoffMs ?? 1000, pageSize: this.#pageSize})) {
      if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`StepListener option ${name}: expected a positive number, got ${value}`);
    }
    // Every running step and request listens to these: allow more than the default 10 listeners.
    setMaxListeners(0, this.#stopping.signal, this.#aborting.signal);
    this.#context = {
      store: options.store, step, log: this.#log, owner: options.owner, leaseMs, now: this.#now,
      backoffMs: options.backoffMs ?? 1000, maxBackoffMs: options.maxBackoffMs ?? 60_000,
      write: options.write, leases: options.leases, reach: options.reachability,
      stopping: this.#stopping.signal, aborting: this.#aborting.signal,
      slot: (work) => this.#queue.slot(work),
    };
    this.#queue = new StepQueue({
      concurrency: step.concurrency, pageSize: this.#pageSize, stopping: this.#stopping.signal,
      admit: (doc) => this.#worthTrying(doc),
      run: (job) => this.#work(job),
      requestSweep: () => this.requestSweep(),
      idle: () => this.emit('idle'),
    });
    this.#sweeps = new SweepSchedule({sweep: () => this.#sweep(), swept: () => this.#queue.notifyIfIdle(), signal: this.#stopping.signal, now: this.#now});
    options.router.add(step, this.#queue);
    // After an outage the view is read again: changes made meanwhile may have been missed by the feed.
    options.reachability.setMaxListeners(0);
    options.reachability.on('back', () => this.requestSweep());
  }

  /** What a heartbeat reports of this listener. */
  get state(): ListenerState {
    return {
      step: this.step.name, since: this.#options.feed.since ?? null, reachable: this.#options.reachability.reachable,
      running: this.#queue.running, queued: this.#queue.queued, last_progress: this.#lastProgress,
    };
  }

  /** Documents queued or running. */
  get busy(): number {
    return this.#queue.busy;
  }

  /** Start sweeping (the feed's documents come through the router). The returned promise settles when the listener has stopped. */
  start(): Promise<void> {
    // The first sweep's idle only: the Runner asks for the later sweeps when it finds work waiting,
    // and an idle after each would loop while another process holds the claims.
    this.#loop ??= this.#sweeps.run(this.#options.feed.positioned).catch((error: unknown) => {
      this.#log.error('listener stopped by an error', {error: errorMessage(error)});
      this.emit('error', error);
    });
    return this.#loop;
  }

  /**
   * Stop taking work, let running steps finish within `timeoutMs` (then abort them and give their
   * documents back), then close the step (its `close()`, if it has one). Idempotent.
   */
  stop(timeoutMs = 30_000): Promise<void> {
    this.#stopped ??= (async () => {
      this.#stopping.abort();
      // Not a cleared queue: p-queue leaves the promises of cleared tasks pending forever, and a sweep
      // or a feed page awaiting them would never end. Queued jobs see the stop and return at once.
      const timer = setTimeout(() => this.#aborting.abort(new StepInterrupted('stopped', 'listener stopped')), timeoutMs);
      try {
        this.#log.debug('stopping', {queued: this.#queue.queued, running: this.#queue.running});
        await this.#queue.onIdle();
        this.#log.debug('stopping: steps finished');
        await this.#loop;
        this.#log.debug('stopped');
      } finally {
        clearTimeout(timer);
        // Every step has finished or been aborted: the step may release what it kept (connections).
        await this.#closeStep();
      }
    })();
    return this.#stopped;
  }

  /** Abort running steps now (a second signal); their documents are given back. */
  abort(): void {
    this.#aborting.abort(new StepInterrupted('stopped', 'listener aborted'));
    void this.stop(0);
  }

  /** Ask for a sweep of the stage view soon (after a rewind, an outage, or when a claim or retry time comes). */
  requestSweep(): void {
    this.#sweeps.request();
  }

  async #closeStep(): Promise<void> {
    try {
      await this.step.close?.();
    } catch (error) {
      this.#log.warn('step did not close cleanly', {error: errorMessage(error)});
    }
  }

  /** Put every document waiting at this step's stage (ready, or waiting for a retry) in its queue, page by page, through the router. */
  #sweep(): Promise<void> {
    return sweepStage({
      store: this.#options.store, stage: this.step.after, pageSize: this.#pageSize, signal: this.#stopping.signal,
      call: (what, query) => this.#options.reachability.call(what, query, this.#stopping.signal),
      take: (doc) => this.#options.router.routeSwept(this.step, doc),
      room: () => this.#queue.room(),
    });
  }

  /** Whether the document may need this step now; a sweep is set for when a claim or retry time seen on it ends. */
  #worthTrying(doc: Doc): boolean {
    const ready = readiness(doc, this.step, this.#now(), this.#options.owner);
    if (ready.kind === 'claimed') this.#sweeps.at(ready.until);
    if (ready.kind === 'later') this.#sweeps.at(ready.at);
    return ready.kind === 'run';
  }

  /** One job from the queue: an attempt, its outcome passed to the router (a hand-over) and reported. Never rejects. */
  async #work(job: Job): Promise<void> {
    const id = job.doc._id;
    const handing: {reservation?: Reservation} = {};
    let outcome: AttemptOutcome | undefined;
    try {
      outcome = await runAttempt(this.#context, job, {
        started: () => this.emit('started', {id, step: this.step.name}),
        handOff: (docId) => (handing.reservation = this.#options.router.reserveNext(this.step, docId)),
      });
    } catch (error) {
      // Counted as handled by the feed position, so it must be found again: sweep for it.
      this.#log.error('document not handled, will look again', {docId: id, error: errorMessage(error)});
      this.#sweeps.at(this.#now() + Math.min(this.#context.leaseMs, this.#context.maxBackoffMs));
    } finally {
      if (handing.reservation) this.#options.router.handOn(handing.reservation, outcome);
    }
    if (outcome) this.#report(outcome);
  }

  #report(outcome: AttemptOutcome): void {
    const {id} = outcome;
    if (outcome.kind === 'skipped') {
      if (outcome.latest) this.#worthTrying(outcome.latest);
      return;
    }
    if (outcome.kind === 'lost') this.emit('lost', {id, step: this.step.name});
    if (outcome.kind !== 'recorded') return;
    const {entry, result, attempt} = outcome;
    const event: StepEvent = {id, step: this.step.name, entry};
    const log = this.#log.child({docId: id});
    this.#lastProgress = entry.finished ?? new Date().toISOString();
    if (result.kind === 'done') {
      log.verbose('step done', {attempt, ms: Date.parse(entry.finished!) - Date.parse(entry.started!)});
      this.emit('completed', event);
    } else if (result.kind === 'retry') {
      log.warn('step failed, will retry', {attempt, error: entry.error?.message, retryInMs: result.next - this.#now()});
      this.#sweeps.at(result.next);
      this.emit('retrying', event);
    } else {
      log.error('step failed', {attempt, error: entry.error?.message});
      this.emit('failed', event);
    }
  }
}
