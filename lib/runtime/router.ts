import {isDataFile, stageOf, type DataFileDoc} from '../pipeline/index.js';
import type {Doc} from '../store/index.js';
import type {AttemptOutcome, NextClaim} from './attempt.js';
import {claimSpec} from './claim.js';
import type {ChainStep} from './step.js';
import type {StepQueue} from './step-queue.js';

export interface RouterOptions {
  /** This process's identity in claims (of hand-overs). */
  owner: string;
  /** How long a hand-over's claim holds the document. */
  leaseMs: number;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/** A hand-over in progress: the next step's queue has room kept for the document until the result is written. */
export interface Reservation extends NextClaim {
  readonly id: string;
  readonly queue: StepQueue;
}

/**
 * Where each document goes in this process: from the feed to the queue of the step waiting at its
 * stage, from a step's sweep to that step's queue, and from a recorded result on to the next step.
 * When exactly one step of the process follows the one that finished, and its queue has room, the
 * result write also claims the document for it (a hand-over): the next step runs it without a claim
 * write of its own, 4 writes per document through a three-step chain instead of 6. Otherwise the
 * next step finds the document on the feed, as a listener elsewhere would.
 */
export class Router {
  readonly #options: RouterOptions;
  readonly #now: () => number;
  readonly #queues = new Map<string, {step: ChainStep; queue: StepQueue}>();
  readonly #byStage = new Map<string, StepQueue[]>();

  constructor(options: RouterOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
  }

  /** Route documents at `step`'s stage to `queue`. */
  add(step: ChainStep, queue: StepQueue): void {
    if (this.#queues.has(step.name)) throw new TypeError(`Router: step ${step.name} added twice`);
    this.#queues.set(step.name, {step, queue});
    this.#byStage.set(step.after, [...(this.#byStage.get(step.after) ?? []), queue]);
  }

  /**
   * One page of the feed: each document goes to the queues of its stage (a conflicted one by its
   * winning revision's stage; that step merges it first). Resolves once every document is handled
   * (run, found not to need running, or left to a sweep): the feed may then save a position past it.
   */
  routePage(docs: Doc[], empty: boolean): Promise<void> {
    const offered = new Map<StepQueue, Promise<void>[]>();
    for (const doc of docs) {
      for (const queue of (isDataFile(doc) ? this.#byStage.get(stageOf(doc as DataFileDoc)) : undefined) ?? []) {
        const list = offered.get(queue) ?? [];
        list.push(queue.offer(doc));
        offered.set(queue, list);
      }
    }
    for (const {queue} of this.#queues.values()) queue.pageRead(Promise.all(offered.get(queue) ?? []).then(() => undefined), empty);
    return Promise.all([...offered.values()].flat()).then(() => undefined);
  }

  /** A document `step`'s sweep found waiting at its stage. */
  routeSwept(step: ChainStep, doc: Doc): void {
    void this.#queues.get(step.name)?.queue.take(doc);
  }

  /**
   * `from` is done with document `id`: if exactly one step of this process follows it and can take
   * the document now, keep it a place (no feed or sweep starts it meanwhile) and give the claim to
   * write with the result. Settle the reservation with `handOn` once the write has ended.
   */
  reserveNext(from: ChainStep, id: string): Reservation | undefined {
    const following = [...this.#queues.values()].filter(({step}) => step.after === from.name);
    if (following.length !== 1) return undefined;
    const [{step, queue}] = following as [{step: ChainStep; queue: StepQueue}];
    if (!queue.reserve(id)) return undefined;
    return {id, queue, step, spec: () => claimSpec(step, this.#options.owner, this.#options.leaseMs, this.#now())};
  }

  /**
   * The result write of a reservation's document has ended (`outcome` undefined: it failed): the next
   * step runs the document on the claim written with it, or, when none was, lets it go and looks at
   * it again as the feed would (a stopping step gives a claim it was handed back).
   */
  handOn(reservation: Reservation, outcome: AttemptOutcome | undefined): void {
    const written = outcome?.kind === 'recorded' ? outcome.doc : null;
    if (written && outcome?.kind === 'recorded' && outcome.handed) reservation.queue.adopt({doc: written, held: outcome.handed});
    else reservation.queue.release(reservation.id, written);
  }
}
