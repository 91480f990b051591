import {EventEmitter} from 'node:events';
import {errorMessage, isRetryable} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {backoffDelay, pause} from './backoff.js';

export interface ReachabilityOptions {
  log: Logger;
  /** First delay between tries while the database is unreachable, doubled per try. @default 1000 */
  backoffMs?: number;
  /** Cap on that delay. @default 60000 */
  maxBackoffMs?: number;
}

/**
 * Database calls that outlast outages: while the database is unreachable, a call is tried again
 * with capped backoff, and one line is logged when it goes away and one when it is back (not one
 * per try). Errors that cannot pass are thrown at once. One instance per process (the Runner shares
 * it between its listeners), so an outage is one pair of lines whatever the number of steps.
 *
 * Events: `back` once when the database answers again after being unreachable.
 */
export class Reachability extends EventEmitter {
  readonly #options: ReachabilityOptions;
  #down = false;

  constructor(options: ReachabilityOptions) {
    super();
    this.#options = options;
  }

  get reachable(): boolean {
    return !this.#down;
  }

  /** Run `call` until it answers; undefined if `signal` aborts first. `what` names it in the log. */
  async call<T>(what: string, call: () => Promise<T>, signal: AbortSignal): Promise<T | undefined> {
    const {log} = this.#options;
    for (let attempt = 1; ; attempt++) {
      if (signal.aborted) return undefined;
      try {
        const value = await call();
        if (this.#down) {
          this.#down = false;
          log.info('database reachable again');
          this.emit('back');
        }
        return value;
      } catch (error) {
        if (signal.aborted) return undefined;
        if (!isRetryable(error)) throw error;
        if (!this.#down) {
          this.#down = true;
          log.warn('database unreachable, retrying', {while: what, error: errorMessage(error)});
        }
        await pause(backoffDelay(attempt, this.#options.backoffMs ?? 1000, this.#options.maxBackoffMs ?? 60_000), signal);
      }
    }
  }
}
