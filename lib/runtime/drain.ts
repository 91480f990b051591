import {DESIGN} from '../design/index.js';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import type {StepListener} from './listener.js';

export interface DrainCheckOptions {
  store: Store;
  log: Logger;
  /** The process's listeners, in chain order. */
  listeners: readonly StepListener[];
  /** Look until the process stops (`--once`), not only until it has caught up. @default false */
  once?: boolean;
  /** Nothing waits at any step's stage; `first`: the first time since the start or the last outage. */
  drained: (first: boolean) => void;
}

/** Per stage, the documents waiting now (ready, claimed, or waiting for a retry), from the stage view. */
export async function waitingAt(store: Store, stage: string): Promise<number> {
  // 'ready' and 'retry' are adjacent keys, so one range counts both ('bad' and 'failed' sort before).
  const result = await store.query({design: DESIGN, view: 'stage', startkey: [stage, 'ready'], endkey: [stage, 'retry', {}], reduce: true});
  return Number(result.rows[0]?.value ?? 0);
}

/**
 * Whether the work is drained: no listener busy and nothing waiting at any step's stage, checked in
 * chain order so that a document moving on is never missed. A daemon looks until it has caught up
 * (and again after an outage, see `reset`), `once` until it stops. One check at a time; a check asked
 * for during one runs again after it.
 */
export class DrainCheck {
  readonly #options: DrainCheckOptions;
  #caughtUp = false;
  #checking = false;
  #recheck = false;
  #stopped = false;

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
  }

  async check(): Promise<void> {
    if (this.#stopped || (this.#caughtUp && !this.#options.once)) return;
    if (this.#checking) {
      this.#recheck = true;
      return;
    }
    this.#checking = true;
    try {
      do {
        this.#recheck = false;
        if (await this.#drained()) {
          const first = !this.#caughtUp;
          this.#caughtUp = true;
          this.#options.drained(first);
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
    const {listeners, log} = this.#options;
    const busy = listeners.filter((l) => l.busy > 0).map((l) => l.step.name);
    if (busy.length > 0) {
      log.debug('not drained: steps running', {steps: busy});
      return false;
    }
    for (const listener of listeners) {
      const waiting = await waitingAt(this.#options.store, listener.step.after);
      log.debug('waiting at stage', {stage: listener.step.after, waiting});
      if (waiting > 0) {
        // `once` must not wait on a document the feed did not show; a daemon's listeners sweep when a claim or retry time comes anyway.
        if (this.#options.once) listener.requestSweep();
        return false;
      }
    }
    return listeners.every((l) => l.busy === 0);
  }
}
