import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Progress, Runner, StepCounts} from '../runtime/index.js';
import type {Io} from './context.js';
import {rate} from './progress.js';

export interface ListenReportOptions {
  runner: Pick<Runner, 'on' | 'off' | 'progress' | 'waiting' | 'stepListeners'>;
  log: Logger;
  io: Io;
  /** Milliseconds between summary lines (one per step, only when something happened since the last). @default 60000 */
  summaryMs?: number;
  /**
   * On a terminal, milliseconds between reads of the waiting counts for the status line (one reduce
   * per step; at least ten times as long as the last read took, as PouchDB reads every row of it). @default 2000
   */
  waitingMs?: number;
  /** Milliseconds between redraws of the status line as documents complete. @default 200 */
  drawMs?: number;
}

/**
 * What `edw listen` says about its work at the default level, instead of a line per step per
 * document (those are the runtime's, at `verbose`): on a terminal a status line with totals, and in
 * the log a summary per step now and then, one line when nothing is left waiting (`caught up`) and a
 * last one with what the run did (`stopped`).
 */
export class ListenReport {
  readonly #options: ListenReportOptions;
  readonly #log: Logger;
  readonly #io: Io;
  readonly #started = Date.now();
  readonly #onStatusLine: boolean;
  /** The waiting counts last read from the view, and the totals when that read began (see #waitingNow). */
  #waiting: {counts: Record<string, number>; at: Record<string, StepCounts>} | undefined;
  #reading: Promise<void> | undefined;
  /** When the status line's waiting counts may be read again. */
  #readAfter = 0;
  /** Caught up, and nothing done since. */
  #idle = false;
  #lastDraw = 0;
  /** Totals at the last summary line, for its rate and to say nothing when nothing happened. */
  #lastSummary: {at: number; steps: Record<string, StepCounts>};
  /** Totals a few draws ago, for the status line's recent rate. */
  #samples: Array<{at: number; done: number}> = [];
  #timers: NodeJS.Timeout[] = [];
  #stopped = false;
  readonly #onProgress = (): void => {
    this.#idle = false;
    if (Date.now() - this.#lastDraw >= (this.#options.drawMs ?? 200)) this.#draw();
  };
  readonly #onCaughtUp = (progress: Progress): void => {
    this.#idle = true;
    this.#waiting = {counts: Object.fromEntries(Object.keys(progress.steps).map((step) => [step, 0])), at: progress.steps};
    this.#log.info('caught up', {...totals(progress), seconds: this.#seconds()});
    this.#draw();
  };

  constructor(options: ListenReportOptions) {
    this.#options = options;
    this.#log = options.log;
    this.#io = options.io;
    this.#onStatusLine = options.io.tty && options.io.status !== undefined;
    this.#lastSummary = {at: this.#started, steps: options.runner.progress.steps};
  }

  /** Start reporting: the status line is drawn at once (on a terminal), the rest as the run goes. */
  start(): this {
    const {runner} = this.#options;
    runner.on('progress', this.#onProgress);
    runner.on('caught-up', this.#onCaughtUp);
    this.#every(this.#options.summaryMs ?? 60_000, () => this.#summarize());
    if (this.#onStatusLine) {
      this.#draw();
      void this.#refreshWaiting();
      this.#every(this.#options.waitingMs ?? 2000, () => Date.now() >= this.#readAfter ? this.#refreshWaiting() : Promise.resolve());
    }
    return this;
  }

  /**
   * Remove the status line and log what the run did, per step, and how long it took, once a read of
   * the waiting counts still in flight has ended (the store is closed after this). Idempotent.
   */
  async stop(): Promise<void> {
    if (this.#stopped) return;
    this.#stopped = true;
    for (const timer of this.#timers) clearInterval(timer);
    this.#options.runner.off('progress', this.#onProgress);
    this.#options.runner.off('caught-up', this.#onCaughtUp);
    await this.#reading?.catch(() => {});
    this.#io.status?.('');
    this.#log.info('stopped', {...totals(this.#options.runner.progress), seconds: this.#seconds()});
  }

  #every(ms: number, work: () => Promise<void>): void {
    const timer = setInterval(() => void work(), ms);
    timer.unref();
    this.#timers.push(timer);
  }

  #seconds(): number {
    return Math.round((Date.now() - this.#started) / 100) / 10;
  }

  /** One line per step, if any step did anything since the last summary. */
  async #summarize(): Promise<void> {
    const now = Date.now();
    const {steps} = this.#options.runner.progress;
    const before = this.#lastSummary;
    const changed = Object.entries(steps).some(([step, counts]) => JSON.stringify(counts) !== JSON.stringify(before.steps[step]));
    if (!changed) return;
    this.#lastSummary = {at: now, steps};
    await this.#refreshWaiting();
    if (this.#stopped) return;
    for (const [step, counts] of Object.entries(steps)) {
      this.#log.info('progress', {
        step, done: counts.completed, failed: counts.failed, retried: counts.retried,
        ...(this.#waiting ? {waiting: this.#waitingNow(steps)[step]} : {}),
        rate: rate(counts.completed - (before.steps[step]?.completed ?? 0), before.at, now),
      });
    }
  }

  /** Read the waiting counts from the view (one read at a time); on failure (an outage, said elsewhere) they are left out. */
  #refreshWaiting(): Promise<void> {
    this.#reading ??= (async () => {
      const at = this.#options.runner.progress.steps;
      const began = Date.now();
      try {
        this.#waiting = {counts: await this.#options.runner.waiting(), at};
        this.#readAfter = Date.now() + 10 * (Date.now() - began);
      } catch (error) {
        this.#waiting = undefined;
        if (!this.#stopped) this.#log.debug('waiting counts not read', {error: errorMessage(error)});
      } finally {
        this.#reading = undefined;
      }
      this.#draw();
    })();
    return this.#reading;
  }

  /**
   * The waiting counts brought forward from the last read by what happened since: a step's own
   * documents handled leave its stage, the step before it here adds those it completed. A read can
   * take seconds on a busy database; without this the line would show the backlog of its start.
   */
  #waitingNow(steps: Record<string, StepCounts>): Record<string, number> {
    const read = this.#waiting!;
    const since = (step: string | undefined, count: (c: StepCounts) => number): number =>
      step && steps[step] && read.at[step] ? count(steps[step]!) - count(read.at[step]!) : 0;
    const handled = (c: StepCounts): number => c.completed + c.failed + c.retried;
    return Object.fromEntries(this.#options.runner.stepListeners.map(({step}) => [step.name,
      Math.max(0, (read.counts[step.name] ?? 0) - since(step.name, handled) + since(step.after, (c) => c.completed))]));
  }

  /** The status line: per step done, waiting and failed, the recent rate, and whether it has caught up. */
  #draw(): void {
    if (!this.#onStatusLine || this.#stopped) return;
    const now = Date.now();
    this.#lastDraw = now;
    const {steps} = this.#options.runner.progress;
    const done = Object.values(steps).reduce((n, c) => n + c.completed, 0);
    this.#samples.push({at: now, done});
    // The rate over about the last ten seconds, so that a daemon's status shows what it does now.
    while (this.#samples.length > 2 && now - this.#samples[0]!.at > 10_000) this.#samples.shift();
    const oldest = this.#samples[0]!;
    const waitingNow = this.#waiting ? this.#waitingNow(steps) : undefined;
    const parts = Object.entries(steps).map(([step, c]) => {
      const waiting = waitingNow?.[step];
      return `${step} ${c.completed} done${waiting ? `, ${waiting} waiting` : ''}${c.failed ? `, ${c.failed} failed` : ''}`;
    });
    parts.push(this.#idle ? 'caught up' : `${rate(done - oldest.done, oldest.at, now).replace('/s', ' steps/s')}`);
    this.#io.status!(parts.join(' · '));
  }
}

/** Per step, what the run completed and what failed for good: the fields of `caught up` and `stopped`. */
function totals(progress: Progress): {done: Record<string, number>; failed: Record<string, number>} {
  const entries = Object.entries(progress.steps);
  return {
    done: Object.fromEntries(entries.map(([step, c]) => [step, c.completed])),
    failed: Object.fromEntries(entries.map(([step, c]) => [step, c.failed])),
  };
}
