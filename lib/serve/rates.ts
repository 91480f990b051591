import type {StatusCounts} from '../inspect/index.js';

/** Documents per second over the last window: registered (all documents) and completed per step. */
export interface Rates {
  /** Seconds the rates are measured over; null before a second reading. */
  window_s: number | null;
  /** `registered` and each step: documents per second, null before a second reading. */
  per_s: Record<string, number | null>;
}

interface Sample {
  atMs: number;
  /** `registered`: documents counted; each step: documents standing at it or past it. */
  reached: Record<string, number>;
}

export interface RateTrackerOptions {
  /** The chain's steps, in order. */
  steps: readonly string[];
  /** How far back a rate looks. @default 60000 */
  windowMs?: number;
}

/**
 * Rates from successive status readings: a step's completions are the documents standing at it or at
 * a later step, so the rate is how fast that number grew between the oldest reading in the window and
 * now. A document registered again with `--replace` starts over, so a rate is never below 0.
 */
export class RateTracker {
  readonly #steps: readonly string[];
  readonly #windowMs: number;
  #samples: Sample[] = [];

  constructor(options: RateTrackerOptions) {
    this.#steps = options.steps;
    this.#windowMs = options.windowMs ?? 60_000;
    if (!(this.#windowMs > 0)) throw new TypeError(`RateTracker option windowMs: expected a positive number of ms, got ${this.#windowMs}`);
  }

  /**
   * No rates: for a reading that is not exact (`fresh`), whose counts jump as the keeper catches up
   * and would read as a burst of work. It is not kept as a sample either.
   */
  none(): Rates {
    return {window_s: null, per_s: Object.fromEntries(['registered', ...this.#steps].map((key) => [key, null]))};
  }

  /** Record a status read at `atMs` and give the rates up to it. */
  add(status: StatusCounts, atMs: number): Rates {
    const reached: Record<string, number> = {registered: status.total};
    let past = 0;
    for (let i = this.#steps.length - 1; i >= 0; i--) {
      past += status.stages[this.#steps[i]!] ?? 0;
      reached[this.#steps[i]!] = past;
    }
    // Keep the newest reading older than the window, as the rate's start, and those inside it.
    let start = 0;
    while (start + 1 < this.#samples.length && this.#samples[start + 1]!.atMs <= atMs - this.#windowMs) start++;
    if (start > 0) this.#samples = this.#samples.slice(start);
    const first = this.#samples[0];
    // At most one reading a second is kept, so that frequent requests keep few.
    const last = this.#samples[this.#samples.length - 1];
    if (!last || atMs - last.atMs >= 1000) this.#samples.push({atMs, reached});
    const seconds = first ? (atMs - first.atMs) / 1000 : 0;
    const per_s = Object.fromEntries(Object.entries(reached).map(([key, n]) => [key, seconds > 0 ? Math.max(0, (n - first!.reached[key]!) / seconds) : null]));
    return {window_s: seconds > 0 ? seconds : null, per_s};
  }
}
