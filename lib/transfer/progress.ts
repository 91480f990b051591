import type {TransferProgress} from './transfer.js';

/** One progress report: where a transfer is, and how fast it went since the report before. */
export interface ProgressLine {
  phase: TransferProgress['phase'];
  /** Bytes done in this phase, counted from the start of the file. */
  bytes: number;
  /** Whole percent of `totalBytes`, when the total is known. */
  percent?: number;
  /** Over the last interval (0 while stalled). */
  bytes_per_second: number;
}

export interface ProgressReporterOptions {
  /** Time between two reports. @default 5000 */
  intervalMs?: number;
  /** Where each report goes (the step logs it). */
  emit: (line: ProgressLine) => void;
  /** Milliseconds, for tests. @default performance.now */
  now?: () => number;
}

/**
 * Turns a transfer's per-chunk progress into one report per interval, on a timer rather than on
 * chunks: at most one line per `intervalMs` whatever the chunk size, and a stalled transfer still
 * reports (at 0 B/s) instead of falling silent.
 */
export class ProgressReporter {
  readonly intervalMs: number;
  readonly #emit: (line: ProgressLine) => void;
  readonly #now: () => number;
  #latest: TransferProgress | undefined;
  /** Where the rate is measured from: the previous report, or the start of the phase. */
  #mark = {bytes: 0, at: 0};
  #timer: NodeJS.Timeout | undefined;

  constructor(options: ProgressReporterOptions) {
    this.intervalMs = options.intervalMs ?? 5000;
    if (!Number.isFinite(this.intervalMs) || this.intervalMs <= 0) throw new TypeError(`ProgressReporter: option intervalMs must be a positive number of ms, got ${String(options.intervalMs)}`);
    this.#emit = options.emit;
    this.#now = options.now ?? (() => performance.now());
  }

  /** Record where the transfer is (a TransferOptions.onProgress). */
  readonly update = (progress: TransferProgress): void => {
    if (progress.phase !== this.#latest?.phase) this.#mark = {bytes: progress.bytes, at: this.#now()};
    this.#latest = progress;
  };

  /** Report now, if a phase has begun. */
  tick(): void {
    const latest = this.#latest;
    if (!latest) return;
    const now = this.#now();
    const seconds = (now - this.#mark.at) / 1000;
    const rate = seconds > 0 ? Math.round((latest.bytes - this.#mark.bytes) / seconds) : 0;
    this.#mark = {bytes: latest.bytes, at: now};
    this.#emit({
      phase: latest.phase, bytes: latest.bytes,
      ...(latest.totalBytes ? {percent: Math.floor((latest.bytes / latest.totalBytes) * 100)} : {}),
      bytes_per_second: rate,
    });
  }

  /** Report every `intervalMs` until `stop()`. */
  start(): this {
    this.#timer ??= setInterval(() => this.tick(), this.intervalMs);
    // A report timer must not keep the process alive.
    this.#timer.unref();
    return this;
  }

  stop(): void {
    clearInterval(this.#timer);
    this.#timer = undefined;
  }
}
