import {DESIGN} from '../design/index.js';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import type {StepListener} from './listener.js';

/** What a drain check asks of a listener. */
export type DrainListener = Pick<StepListener, 'busy' | 'step' | 'requestSweep'>;

export interface DrainCheckOptions {
  store: Store;
  log: Logger;
  /** The process's listeners, in chain order. */
  listeners: readonly DrainListener[];
  /** Look until the process stops (`--once`), not only until it has caught up. @default false */
  once?: boolean;
  /** Nothing waits at any step's stage; `first`: the first time since the start or the last outage. */
  drained: (first: boolean) => void;
  /**
   * After a check that found work, the next one waits this many times as long as that check took (a
   * check asked for meanwhile runs when the wait is over). Each check makes PouchDB bring the stage
   * view up to date, and listeners idle many times a second in a busy chain. @default 10
   */
  spacing?: number;
  /** Milliseconds since the epoch; for tests. @default Date.now */
  now?: () => number;
}

/** The stage view's range of the documents waiting at `stage` (ready, claimed, or waiting for a retry). */
function waitingRange(stage: string): {design: string; view: string; startkey: unknown[]; endkey: unknown[]} {
  // 'ready' and 'retry' are adjacent keys, so one range holds both ('bad' and 'failed' sort before).
  return {design: DESIGN, view: 'stage', startkey: [stage, 'ready'], endkey: [stage, 'retry', {}]};
}

/** Per stage, the documents waiting now, from the stage view. */
export async function waitingAt(store: Store, stage: string): Promise<number> {
  const result = await store.query({...waitingRange(stage), reduce: true});
  return Number(result.rows[0]?.value ?? 0);
}

/**
 * Whether any document waits at `stage`: one row of the same range, not its reduce. PouchDB reduces a
 * range by reading every row in it, so a count of 10,000 waiting documents costs 10,000 rows; a drain
 * check, asked for whenever a listener idles, needs only to know whether there is one.
 */
export async function anyWaitingAt(store: Store, stage: string): Promise<boolean> {
  const result = await store.query({...waitingRange(stage), reduce: false, limit: 1});
  return result.rows.length > 0;
}

/**
 * Whether the work is drained: no listener busy and nothing waiting at any step's stage, checked in
 * chain order so that a document moving on is never missed. A daemon looks until it has caught up
 * (and again after an outage, see `reset`), `once` until it stops. One check at a time; a check asked
 * for during one runs again after it; after a check that found work, the next waits `spacing` times as
 * long as it took, so the checks cost at most about a tenth of the process's time.
 */
export class DrainCheck {
  readonly #options: DrainCheckOptions;
  #caughtUp = false;
  #checking = false;
  #recheck = false;
  #stopped = false;
  /** No check starts before this time (ms since the epoch). */
  #notBefore = 0;
  #timer: NodeJS.Timeout | undefined;

  constructor(options: DrainCheckOptions) {
    this.#options = options;
  }

  /** Caught up again is news again (after an outage: the listeners sweep). */
  reset(): void {
    this.#caughtUp = false;
  }

  /** Look no more (the process stops). */
  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  async check(): Promise<void> {
    if (this.#stopped || (this.#caughtUp && !this.#options.once)) return;
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    const now = this.#options.now ?? Date.now;
    const wait = this.#notBefore - now();
    if (wait > 0) {
      this.#later(wait);
      return;
    }
    this.#checking = true;
    try {
      do {
        this.#recheck = false;
        const started = now();
        const drained = await this.#drained();
        const ended = now();
        this.#notBefore = ended + (ended - started) * (this.#options.spacing ?? 10);
        if (drained) {
          const first = !this.#caughtUp;
          this.#caughtUp = true;
          this.#options.drained(first);
          return;
        }
      } while (this.#recheck && this.#notBefore <= now());
      // Asked for while this one ran, but too soon: when the wait is over.
      if (this.#recheck) {
        this.#recheck = false;
        this.#later(this.#notBefore - now());
      }
    } catch (error) {
      // A daemon only looks to say it has caught up: an outage is said once by the listeners' Reachability.
      this.#options.log[this.#options.once ? 'warn' : 'debug']('could not check for waiting work', {error: errorMessage(error)});
    } finally {
      this.#checking = false;
    }
  }

  /** Check in `ms`, unless a check is already due. */
  #later(ms: number): void {
    this.#timer ??= setTimeout(() => {
      this.#timer = undefined;
      void this.check();
    }, ms);
  }

  async #drained(): Promise<boolean> {
    const {listeners, log} = this.#options;
    const busy = listeners.filter((l) => l.busy > 0).map((l) => l.step.name);
    if (busy.length > 0) {
      log.debug('not drained: steps running', {steps: busy});
      return false;
    }
    for (const listener of listeners) {
      const waiting = await anyWaitingAt(this.#options.store, listener.step.after);
      log.debug('waiting at stage', {stage: listener.step.after, waiting});
      if (waiting) {
        // `once` must not wait on a document the feed did not show; a daemon's listeners sweep when a claim or retry time comes anyway.
        if (this.#options.once) listener.requestSweep();
        return false;
      }
    }
    return listeners.every((l) => l.busy === 0);
  }
}
