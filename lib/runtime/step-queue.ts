import PQueue from 'p-queue';
import type {DataFileDoc} from '../pipeline/index.js';
import type {Doc} from '../store/index.js';

/** Work for a step: a document to claim and run, or one already claimed for it (`held`, a hand-over). */
export interface Job {
  doc: DataFileDoc;
  /** The claim the previous step's result write took for this step, and the attempt it is. */
  held?: {token: number; attempt: number};
}

export interface StepQueueOptions {
  /** Most jobs running the step at once (the step's concurrency): see `slot`. */
  concurrency: number;
  /**
   * Jobs past `concurrency` that may be in hand at once: recording their results (a database round
   * trip, off the step's slots) or waiting for a slot. On CouchDB a write costs a round trip of tens
   * of milliseconds whatever it carries, so the step's slots are not held for it, and the writes of
   * many jobs go out together. @default 64
   */
  recordWindow?: number;
  /**
   * Most jobs waiting before the feed's documents are left to a sweep, and the room a sweep waits for
   * between pages. @default 200
   */
  pageSize?: number;
  /** Whether a document may need the step now; a conflicted one is taken whatever this says (it is merged first). */
  admit: (doc: Doc) => boolean;
  /** Runs one job to its end; must not reject. */
  run: (job: Job) => Promise<void>;
  /** Called when the queue leaves documents to a sweep: the feed's, past `pageSize`, or a hand-over let go without its document. */
  requestSweep: () => void;
  /** Called when nothing is queued or running (and the queue is not stopping). */
  idle: () => void;
  /** Aborts when the step's listener stops: from then on the queue takes nothing new. */
  stopping: AbortSignal;
}

/**
 * The queue of one step: the documents waiting for it and those it runs, bounded by the step's
 * concurrency, each document at most once whether it came from the feed, a sweep or a hand-over
 * (the router decides which queue a document goes to; this decides whether it is taken now).
 */
export class StepQueue {
  readonly #options: StepQueueOptions;
  readonly #pageSize: number;
  readonly #queue: PQueue;
  /** The step's slots: a job holds one while it claims and runs, not while its result is written. */
  readonly #slots: PQueue;
  /** Documents queued or running here (or reserved for a hand-over), so that none starts twice. */
  readonly #active = new Set<string>();

  constructor(options: StepQueueOptions) {
    this.#options = options;
    this.#pageSize = options.pageSize ?? 200;
    if (!(this.#pageSize > 0)) throw new TypeError(`StepQueue option pageSize: expected a positive number, got ${this.#pageSize}`);
    const recordWindow = options.recordWindow ?? 64;
    if (!(Number.isInteger(recordWindow) && recordWindow >= 0)) throw new TypeError(`StepQueue option recordWindow: expected a whole number, got ${recordWindow}`);
    this.#queue = new PQueue({concurrency: options.concurrency + recordWindow});
    this.#slots = new PQueue({concurrency: options.concurrency});
    this.#queue.on('idle', () => this.notifyIfIdle());
  }

  /** Jobs holding a slot now (claiming or running the step). */
  get running(): number {
    return this.#slots.pending;
  }

  /** Jobs waiting for a slot. */
  get queued(): number {
    return this.#queue.size + this.#slots.size;
  }

  /** Run `work` (a job's claim and step) in one of the step's slots, once one is free. */
  slot<T>(work: () => Promise<T>): Promise<T> {
    return this.#slots.add(work) as Promise<T>;
  }

  /** Jobs queued or running. */
  get busy(): number {
    return this.#queue.size + this.#queue.pending;
  }

  /**
   * A document the feed shows at this step's stage. Taken while fewer than a page wait; past that it
   * is left to a sweep (the view is the truth), so that a slow step never holds the process's feed
   * back. Resolves when it is handled.
   */
  offer(doc: Doc): Promise<void> {
    if (this.#active.has(doc._id) || this.#options.stopping.aborted) return Promise.resolve();
    // Waiting for a slot counts wherever a job waits: in the outer queue or, already past it, for a slot.
    if (this.queued >= this.#pageSize) {
      this.#options.requestSweep();
      return Promise.resolve();
    }
    return this.take(doc);
  }

  /** A document a sweep found waiting (or one the feed offered with room left). Resolves when it is handled. */
  take(doc: Doc): Promise<void> {
    if (this.#active.has(doc._id) || this.#options.stopping.aborted) return Promise.resolve();
    if (!doc._conflicts?.length && !this.#options.admit(doc)) return Promise.resolve();
    this.#active.add(doc._id);
    return this.#schedule({doc: doc as DataFileDoc});
  }

  /** Resolves when there is room for another page of a sweep: fewer than a page wait for a slot (or the queue stops). */
  room(): Promise<void> {
    if (this.queued < this.#pageSize || this.#options.stopping.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      // A job leaves the waiting when either queue starts it.
      const look = (): void => {
        if (this.queued >= this.#pageSize && !this.#options.stopping.aborted) return;
        this.#queue.off('active', look);
        this.#slots.off('active', look);
        this.#options.stopping.removeEventListener('abort', look);
        resolve();
      };
      this.#queue.on('active', look);
      this.#slots.on('active', look);
      this.#options.stopping.addEventListener('abort', look);
    });
  }

  /** Resolves when nothing is queued or running. */
  onIdle(): Promise<void> {
    return this.#queue.onIdle();
  }

  /** A feed page was read (`handled` settles when what it offered here is handled): say when nothing is left to do. */
  pageRead(handled: Promise<void>, empty: boolean): void {
    if (!empty && this.busy > 0) return;
    void handled.then(() => this.notifyIfIdle());
  }

  /** Call `idle` if nothing is queued or running. */
  notifyIfIdle(): void {
    if (this.busy === 0 && !this.#options.stopping.aborted) this.#options.idle();
  }

  /** Take `id` in for a hand-over (so neither feed nor sweep starts it) if it can start soon: fewer than the concurrency wait. */
  reserve(id: string): boolean {
    if (this.#options.stopping.aborted || this.#active.has(id) || this.queued >= this.#options.concurrency) return false;
    this.#active.add(id);
    return true;
  }

  /** Run a reserved document whose claim the previous step's result write took for this step. */
  adopt(job: Job & {held: NonNullable<Job['held']>}): void {
    // Even when stopping: the job gives the claim back.
    void this.#schedule(job);
  }

  /**
   * A reserved document that was not handed over after all: let it go, and look at it again as the
   * feed would have (the feed may have shown it meanwhile, and skipped it as taken); without the
   * document, a sweep finds it.
   */
  release(id: string, latest: Doc | null): void {
    this.#active.delete(id);
    if (this.#options.stopping.aborted) return;
    if (latest) void this.take(latest);
    else this.#options.requestSweep();
  }

  /** Queue a job on a document already marked active; it is unmarked when the job ends. */
  #schedule(job: Job): Promise<void> {
    return this.#queue.add(() => this.#options.run(job)).finally(() => this.#active.delete(job.doc._id));
  }
}
