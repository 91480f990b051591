import {EventEmitter, setMaxListeners} from 'node:events';
import {hostname} from 'node:os';
import PQueue from 'p-queue';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {isDataFile, readiness, type DataFileDoc, type ProcessEntry} from '../pipeline/index.js';
import type {Doc, Store} from '../store/index.js';
import {Reachability} from './reachability.js';
import {resolveConflicts} from './conflicts.js';
import {ClaimLostError, hasEntry, outcomeOf, withClaim, withEntry, withoutClaim, type ClaimSpec} from './claim.js';
import {sweepStage} from './sweep.js';
import {keepLease} from './lease.js';
import {executeStep, StepInterrupted} from './execute.js';
import type {ChainStep} from './step.js';
import {updateDocument} from './update.js';
import {WriteBatcher} from './batcher.js';
import type {SharedFeed} from './feed.js';

export interface ListenerOptions {
  store: Store;
  step: ChainStep;
  log: Logger;
  /** This process's identity in claims; unique per process. */
  owner: string;
  /** How long a claim holds a document. @default 30000 */
  leaseMs?: number;
  /** Long-poll wait of one feed request (read by the Runner's feed). @default 30000 */
  pollMs?: number;
  /** First delay before retrying a step that failed with an error that may pass. @default 1000 */
  backoffMs?: number;
  /** Cap on that delay, and on the delay between tries while the database is unreachable. @default 60000 */
  maxBackoffMs?: number;
  /** Documents per view page, and how many may wait in its queue before the feed's are left to a sweep. @default 200 */
  pageSize?: number;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  now?: () => number;
  /** Shared with the process's other listeners, so an outage is logged once. @default one of its own */
  reachability?: Reachability;
  /** Claims, renewals and results go out through it, in `_bulk_docs` batches. @default one of its own */
  batcher?: WriteBatcher;
  /** The process's changes feed (SharedFeed), which gives this listener the documents at its stage. */
  feed: Pick<SharedFeed, 'positioned' | 'since'>;
}

/** One listener's part of a heartbeat document. */
export interface ListenerState {
  step: string;
  /** The feed position it reads from (opaque), null before it has one. */
  since: string | null;
  /** False while the database is unreachable. */
  reachable: boolean;
  /** Documents it holds a claim on and runs now. */
  running: number;
  queued: number;
  /** When it last recorded a result (ISO 8601), null if never. */
  last_progress: string | null;
}

/** What a listener did with one document. */
export interface StepEvent {
  id: string;
  step: string;
  entry: ProcessEntry;
}


/**
 * Runs one step: sweeps the stage view at start and when woken, takes the documents the process's
 * feed (SharedFeed) shows at its stage, claims each waiting document, runs the step with bounded
 * concurrency, and appends the result under the claim's token.
 *
 * Events: `started` (StepEvent without entry), `completed`, `retrying`, `failed` (StepEvent),
 * `lost` (StepEvent without entry: another listener took the claim over, the result was dropped),
 * `idle` (no work queued or running: after a feed page, the start-up sweep, or when the queue empties).
 */
export class StepListener extends EventEmitter {
  readonly step: ChainStep;
  readonly #store: Store;
  readonly #log: Logger;
  readonly #owner: string;
  readonly #leaseMs: number;
  readonly #backoffMs: number;
  readonly #maxBackoffMs: number;
  readonly #pageSize: number;
  readonly #now: () => number;
  readonly #queue: PQueue;
  /** Documents queued or running here, so the feed and a sweep never start one twice. */
  readonly #active = new Set<string>();
  /** Stops the loops (soft stop). */
  readonly #stopping = new AbortController();
  /** Aborts running steps (hard stop, or the soft stop's timeout). */
  readonly #abortSteps = new AbortController();
  readonly #feed: ListenerOptions['feed'];
  /** Wakes the loop when a sweep is asked for or the listener stops. */
  #wake: (() => void) | undefined;
  #sweepNeeded = false;
  #wakeTimer: NodeJS.Timeout | undefined;
  #wakeAt = Infinity;
  #loop: Promise<void> | undefined;
  readonly #reach: Reachability;
  readonly #write: (doc: Doc, signal?: AbortSignal) => Promise<string>;
  /** The listener of the step after this one in this process, if exactly one: see handOffTo. */
  #next: StepListener | undefined;
  #lastProgress: string | null = null;
  #stopped: Promise<void> | undefined;

  constructor(options: ListenerOptions) {
    super();
    this.step = options.step;
    this.#store = options.store;
    this.#log = options.log.child({step: options.step.name});
    this.#owner = options.owner;
    this.#leaseMs = options.leaseMs ?? 30_000;
    this.#feed = options.feed;
    this.#backoffMs = options.backoffMs ?? 1000;
    this.#maxBackoffMs = options.maxBackoffMs ?? 60_000;
    this.#pageSize = options.pageSize ?? 200;
    this.#now = options.now ?? Date.now;
    for (const [name, value] of Object.entries({leaseMs: this.#leaseMs, pollMs: options.pollMs ?? 30_000, backoffMs: this.#backoffMs, pageSize: this.#pageSize})) {
      if (!(Number.isFinite(value) && value > 0)) throw new TypeError(`StepListener option ${name}: expected a positive number, got ${value}`);
    }
    this.#queue = new PQueue({concurrency: options.step.concurrency});
    this.#queue.on('idle', () => this.#emitIdle());
    // After an outage the view is read again: changes made meanwhile may have been missed by the feed.
    this.#reach = options.reachability ?? new Reachability({log: this.#log, backoffMs: Math.min(this.#backoffMs, 1000), maxBackoffMs: this.#maxBackoffMs});
    this.#reach.setMaxListeners(0);
    const batcher = options.batcher ?? new WriteBatcher({store: this.#store});
    this.#write = (doc, signal) => batcher.put(doc, signal);
    this.#reach.on('back', () => this.requestSweep());
    // Every running step and request listens to these: allow more than the default 10 listeners.
    setMaxListeners(0, this.#stopping.signal, this.#abortSteps.signal);
  }

  /** What a heartbeat reports of this listener. */
  get state(): ListenerState {
    return {
      step: this.step.name, since: this.#feed.since ?? null, reachable: this.#reach.reachable,
      running: this.#queue.pending, queued: this.#queue.size, last_progress: this.#lastProgress,
    };
  }

  /** Documents queued or running. */
  get busy(): number {
    return this.#queue.size + this.#queue.pending;
  }

  /** Start sweeping and taking the feed's documents. The returned promise settles when the listener has stopped. */
  start(): Promise<void> {
    this.#loop ??= this.#run().catch((error: unknown) => {
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
      this.#wake?.();
      clearTimeout(this.#wakeTimer);
      // Not queue.clear(): p-queue leaves the promises of cleared tasks pending forever, and a sweep or
      // a feed page awaiting them would never end. Queued tasks see the stop and return at once.
      const timer = setTimeout(() => this.#abortSteps.abort(new StepInterrupted('stopped', 'listener stopped')), timeoutMs);
      try {
        this.#log.debug('stopping', {queued: this.#queue.size, running: this.#queue.pending});
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

  async #closeStep(): Promise<void> {
    try {
      await this.step.close?.();
    } catch (error) {
      this.#log.warn('step did not close cleanly', {error: errorMessage(error)});
    }
  }

  /** Abort running steps now (a second signal); their documents are given back. */
  abort(): void {
    this.#abortSteps.abort(new StepInterrupted('stopped', 'listener aborted'));
    void this.stop(0);
  }

  /** Ask for a sweep of the stage view soon (after a rewind, an outage, or when a claim or retry time comes). */
  requestSweep(): void {
    this.#sweepNeeded = true;
    this.#wake?.();
  }

  /**
   * A document the feed shows at this step's stage. Taken while fewer than a page wait in the queue;
   * past that it is left to a sweep (the view is the truth), so that a slow step never holds the
   * process's feed back. Resolves when it is handled.
   */
  offer(doc: Doc): Promise<void> {
    if (this.#active.has(doc._id) || this.#stopSignal.aborted) return Promise.resolve();
    if (this.#queue.size >= this.#pageSize) {
      this.requestSweep();
      return Promise.resolve();
    }
    return this.#enqueue(doc);
  }

  /** The feed read a page (`handled` settles when what it offered here is handled): tell the Runner when nothing is left to do. */
  pageRead(handled: Promise<void>, empty: boolean): void {
    if (!empty && this.busy > 0) return;
    void handled.then(() => this.#emitIdle());
  }

  /**
   * Hand documents this listener completes to `next` (the step after this one, in this process): the
   * write that records the result also claims the document for `next`, which runs it without a claim
   * write of its own (4 writes per document through a three-step chain instead of 6). Only while
   * fewer than `next`'s concurrency wait in its queue (a hand-over that waits there past its lease is
   * claimed afresh); otherwise `next` finds the document on its feed, as a listener elsewhere would.
   */
  handOffTo(next: StepListener): void {
    if (next.step.after !== this.step.name) throw new TypeError(`step ${next.step.name} does not follow ${this.step.name}`);
    this.#next = next;
  }

  /** Take `id` in (so neither feed nor sweep starts it) if this listener can start it now. */
  #reserve(id: string): boolean {
    if (this.#stopSignal.aborted || this.#active.has(id) || this.#queue.size >= this.step.concurrency) return false;
    this.#active.add(id);
    return true;
  }

  /**
   * A reserved document that was not handed over after all: let it go, and look at it again as the
   * feed would have (the feed may have shown it meanwhile, and skipped it as taken).
   */
  #release(id: string, latest: Doc | null): void {
    this.#active.delete(id);
    if (this.#stopSignal.aborted) return;
    if (latest) void this.#enqueue(latest);
    else this.requestSweep();
  }

  /** Run a reserved document whose claim (`token`) the previous step's result write took for this step. */
  #adopt(doc: DataFileDoc, token: number, attempt: number): void {
    void this.#schedule(doc._id, async () => {
      const log = this.#log.child({docId: doc._id});
      if (this.#stopSignal.aborted) {
        await this.#giveBack(doc._id, token, log);
        return;
      }
      // It waited in the queue past its lease: claim it afresh (another listener may have taken it).
      if ((doc.edw?.claim?.expires ?? 0) <= this.#now()) return this.#handle(doc);
      await this.#runHeld(doc, token, attempt, log);
    });
  }

  /** Nothing queued or running here: the Runner may look whether anything still waits. */
  #emitIdle(): void {
    if (this.busy === 0 && !this.#stopSignal.aborted) this.emit('idle');
  }

  get #stopSignal(): AbortSignal {
    return this.#stopping.signal;
  }

  async #run(): Promise<void> {
    // The feed's position comes first: whatever changes after it is on the feed, whatever before is in the view.
    if ((await this.#feed.positioned) === undefined) return;
    // The view is the truth about what waits: anything that arrived while no listener ran is found here.
    await this.#sweep();
    // Found nothing to do: no queue empties to say so. Only this first sweep: the Runner asks for the
    // later ones when it finds work waiting, and an idle after each would loop while another process
    // holds the claims.
    this.#emitIdle();
    while (!this.#stopSignal.aborted) {
      if (this.#sweepNeeded) {
        this.#sweepNeeded = false;
        await this.#sweep();
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /**
   * Enqueue every document waiting at this step's stage (ready, or waiting for a retry), page by page.
   * It does not wait for their steps to finish, so the feed goes on meanwhile (#active keeps a
   * document from being started twice).
   */
  #sweep(): Promise<void> {
    return sweepStage({
      store: this.#store, stage: this.step.after, pageSize: this.#pageSize, signal: this.#stopSignal,
      call: (what, query) => this.#whileReachable(what, query),
      take: (doc) => void this.#enqueue(doc),
      room: () => this.#queue.onSizeLessThan(this.#pageSize),
    });
  }

  #enqueue(doc: Doc): Promise<void> {
    if (this.#active.has(doc._id) || this.#stopSignal.aborted) return Promise.resolve();
    // A conflicted document is merged first, whatever its state: the merge may change its stage.
    if (!doc._conflicts?.length && !this.#worthTrying(doc)) return Promise.resolve();
    this.#active.add(doc._id);
    return this.#schedule(doc._id, () => this.#handle(doc as DataFileDoc));
  }

  /** Queue the work on a document already marked active; it is unmarked when the work ends. */
  #schedule(id: string, work: () => Promise<void>): Promise<void> {
    return this.#queue
      .add(work)
      .catch((error: unknown) => {
        // Counted as handled by the feed position, so it must be found again: sweep for it.
        this.#log.error('document not handled, will look again', {docId: id, error: errorMessage(error)});
        this.#scheduleSweepAt(this.#now() + Math.min(this.#leaseMs, this.#maxBackoffMs));
      })
      .finally(() => this.#active.delete(id));
  }

  /** Whether the document may need this step now; schedules a sweep for when a claim or retry time ends. */
  #worthTrying(doc: Doc): boolean {
    const ready = readiness(doc, this.step, this.#now(), this.#owner);
    if (ready.kind === 'claimed') this.#scheduleSweepAt(ready.until);
    if (ready.kind === 'later') this.#scheduleSweepAt(ready.at);
    return ready.kind === 'run';
  }

  #scheduleSweepAt(at: number): void {
    if (at >= this.#wakeAt || this.#stopSignal.aborted) return;
    clearTimeout(this.#wakeTimer);
    this.#wakeAt = at;
    this.#wakeTimer = setTimeout(() => {
      this.#wakeAt = Infinity;
      this.requestSweep();
    }, Math.max(0, at - this.#now()) + 10);
    this.#wakeTimer.unref();
  }

  /** Claim, run, record. Every failure is recorded on the document or logged here. */
  async #handle(seen: DataFileDoc): Promise<void> {
    if (this.#stopSignal.aborted) return;
    const log = this.#log.child({docId: seen._id});
    if (seen._conflicts?.length) {
      const merged = await this.#whileReachable('resolve conflicts', () => resolveConflicts(this.#store, seen._id));
      log.info('conflicts resolved', {revisions: seen._conflicts.length + 1});
      if (merged === undefined || !isDataFile(merged)) return;
      seen = merged;
    }
    // Claim with the revision in hand; a conflict means someone else moved first: read again and re-decide.
    let claimed: {doc: DataFileDoc; token: number; attempt: number} | undefined;
    let last: Doc | null = seen;
    const written = await this.#whileReachable('claim a document', () => updateDocument(this.#store, seen._id, (doc) => {
      last = doc;
      const ready = readiness(doc, this.step, this.#now(), this.#owner);
      if (ready.kind !== 'run') return null;
      const {doc: next, claim} = withClaim(doc as DataFileDoc, this.#claimSpec());
      claimed = {doc: next, token: claim.token, attempt: ready.attempt};
      return next;
    }, {current: seen, write: this.#write}));
    if (!written || !claimed) {
      this.#worthTrying(last ?? {_id: seen._id});
      return;
    }
    await this.#runHeld(written as DataFileDoc, claimed.token, claimed.attempt, log);
  }

  /** Run the step on a document this listener holds claim `token` on, and record the result. */
  async #runHeld(claimedDoc: DataFileDoc, token: number, attempt: number, log: Logger): Promise<void> {
    const id = claimedDoc._id;
    this.emit('started', {id, step: this.step.name});
    // Per document: an operator follows the process through the listen command's summaries instead.
    log.verbose('step started', {attempt});

    // The latest revision this listener wrote: the base of renewals and of the result, so that none
    // needs a read first (a 409 still reads, and re-decides on what it finds).
    const held = {doc: claimedDoc};
    const lease = keepLease({store: this.#store, held, write: this.#write, id, token, owner: this.#owner, leaseMs: this.#leaseMs, now: this.#now, log});
    let outcome;
    try {
      outcome = await executeStep({
        step: this.step, doc: claimedDoc, attempt, store: this.#store, log, signals: [this.#abortSteps.signal, lease.signal],
      });
    } finally {
      lease.stop();
    }

    if (outcome.interrupted === 'claim-lost') {
      log.warn('claim lost, result dropped', {attempt});
      this.emit('lost', {id, step: this.step.name});
      return;
    }
    if (outcome.interrupted === 'stopped') {
      await this.#giveBack(id, token, log);
      return;
    }
    const {entry} = outcome;
    const result = outcomeOf(outcome, attempt, {attempts: this.step.attempts, now: this.#now(), backoffMs: this.#backoffMs, maxBackoffMs: this.#maxBackoffMs});
    // Done, and the next step runs in this process with room to start it: the same write claims it for that step.
    const next = result.kind === 'done' && this.#next !== undefined && this.#next.#reserve(id) ? this.#next : undefined;
    let handed: {token: number; attempt: number} | undefined;
    let recorded: Recorded;
    try {
      recorded = await this.#record(id, held.doc, log, (doc) => {
        handed = undefined;
        if (hasEntry(doc, entry, token)) return null;
        const after = withEntry(doc, token, this.#owner, entry, result);
        const ready = next ? readiness(after, next.step, this.#now(), this.#owner) : undefined;
        if (!next || ready?.kind !== 'run') return after;
        const claimed = withClaim(after, next.#claimSpec());
        handed = {token: claimed.claim.token, attempt: ready.attempt};
        return claimed.doc;
      });
    } catch (error) {
      if (next) next.#release(id, null);
      throw error;
    }
    if (next) {
      const written = typeof recorded === 'object' ? recorded.doc : null;
      if (written && handed) next.#adopt(written, handed.token, handed.attempt);
      else next.#release(id, written);
    }
    if (typeof recorded !== 'object') {
      if (recorded === 'lost') this.emit('lost', {id, step: this.step.name});
      return;
    }
    const event: StepEvent = {id, step: this.step.name, entry};
    this.#lastProgress = entry.finished ?? new Date().toISOString();
    if (result.kind === 'done') {
      log.verbose('step done', {attempt, ms: Date.parse(entry.finished!) - Date.parse(entry.started!)});
      this.emit('completed', event);
    } else if (result.kind === 'retry') {
      log.warn('step failed, will retry', {attempt, error: entry.error?.message, retryInMs: result.next - this.#now()});
      this.#scheduleSweepAt(result.next);
      this.emit('retrying', event);
    } else {
      log.error('step failed', {attempt, error: entry.error?.message});
      this.emit('failed', event);
    }
  }

  /** A claim of this step by this process, starting now. */
  #claimSpec(): ClaimSpec {
    return {step: this.step.name, version: this.step.version, owner: this.#owner, host: hostname(), pid: process.pid, leaseMs: this.#leaseMs, now: this.#now()};
  }

  /** Drop claim `token` without recording anything (stopping). One try, outside the stop's abort: if it fails, the lease runs out and another listener takes over. */
  async #giveBack(id: string, token: number, log: Logger): Promise<void> {
    try {
      await updateDocument(this.#store, id, (doc) => withoutClaim(doc as DataFileDoc | null, token, this.#owner));
      log.info('step interrupted by stop, document given back');
    } catch (error) {
      log.warn('step interrupted by stop, claim left to expire', {error: errorMessage(error)});
    }
  }

  /**
   * Write a change under the claim's token, through 409s and outages: the document written (null if
   * `change` found nothing to do), `lost` if another listener holds the claim now, `stopped` if a
   * hard stop came first.
   * `change` returns null when the document already shows the change: a write whose answer was lost
   * (connection dropped after the server wrote it) is retried, meets a 409, and finds itself there.
   */
  async #record(id: string, current: DataFileDoc, log: Logger, change: (doc: DataFileDoc | null) => DataFileDoc | null): Promise<Recorded> {
    try {
      const written = await this.#whileReachable('record the result',
        () => updateDocument(this.#store, id, (doc) => change(doc as DataFileDoc | null), {current, write: this.#write}), this.#abortSteps.signal);
      // null: nothing written, the document already shows the change (an earlier try's answer was lost).
      return written === undefined ? 'stopped' : {doc: written as DataFileDoc | null};
    } catch (error) {
      if (error instanceof ClaimLostError) {
        log.warn('result refused: claim lost', {error: error.message});
        return 'lost';
      }
      throw error;
    }
  }

  /** A database call that outlasts outages (see Reachability); undefined when `signal` (the stop) aborts first. */
  #whileReachable<T>(what: string, call: () => Promise<T>, signal: AbortSignal = this.#stopSignal): Promise<T | undefined> {
    return this.#reach.call(what, call, signal);
  }
}

/** What writing a result came to: the document written (null: already there), or why not. */
type Recorded = {doc: DataFileDoc | null} | 'lost' | 'stopped';
