export interface SweepScheduleOptions {
  /** One sweep of the step's stage view (it puts what it finds in the step's queue, without waiting for it to run). */
  sweep: () => Promise<void>;
  /** Called once the first sweep has ended. */
  swept: () => void;
  /** Ends the loop (the step's soft stop). */
  signal: AbortSignal;
  /** Milliseconds since the epoch. @default Date.now */
  now?: () => number;
}

/**
 * When one step sweeps its stage view: once at start, then whenever asked (after a rewind or an
 * outage, or when the feed's documents were left to a sweep) or when a claim or retry time that
 * was seen comes. Sweeps of a step never overlap, and asks made during one make one more.
 */
export class SweepSchedule {
  readonly #options: SweepScheduleOptions;
  readonly #now: () => number;
  #needed = false;
  #wake: (() => void) | undefined;
  #timer: NodeJS.Timeout | undefined;
  #timerAt = Infinity;

  constructor(options: SweepScheduleOptions) {
    this.#options = options;
    this.#now = options.now ?? Date.now;
    options.signal.addEventListener('abort', () => {
      clearTimeout(this.#timer);
      this.#wake?.();
    }, {once: true});
  }

  /** Sweep at start (once `positioned` says the feed has a position), then as asked, until the signal aborts. */
  async run(positioned: Promise<unknown>): Promise<void> {
    const {signal} = this.#options;
    // The feed's position comes first: whatever changes after it is on the feed, whatever before is in the view.
    if ((await positioned) === undefined) return;
    // The view is the truth about what waits: anything that arrived while no listener ran is found here.
    await this.#options.sweep();
    this.#options.swept();
    while (!signal.aborted) {
      if (this.#needed) {
        this.#needed = false;
        await this.#options.sweep();
        continue;
      }
      await new Promise<void>((resolve) => {
        this.#wake = resolve;
      });
      this.#wake = undefined;
    }
  }

  /** Sweep soon. */
  request(): void {
    this.#needed = true;
    this.#wake?.();
  }

  /** Sweep at `at` (epoch ms; a claim or retry time ends), unless a sweep is already set for earlier. */
  at(at: number): void {
    if (at >= this.#timerAt || this.#options.signal.aborted) return;
    clearTimeout(this.#timer);
    this.#timerAt = at;
    this.#timer = setTimeout(() => {
      this.#timerAt = Infinity;
      this.request();
    }, Math.max(0, at - this.#now()) + 10);
    this.#timer.unref();
  }
}
