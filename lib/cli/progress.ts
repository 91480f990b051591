import type {Io} from './context.js';

/**
 * Progress for long work: on a terminal the Io's status line, redrawn in place (at most every
 * `everyMs`) below whatever else is printed; otherwise a plain line now and then, so logs stay readable.
 */
export function progressLine(io: Io, options: {everyMs?: number} = {}): {update(text: string): void; done(text?: string): void} {
  const onTerminal = io.tty && io.status !== undefined;
  const everyMs = options.everyMs ?? (onTerminal ? 200 : 5000);
  let last = 0;
  return {
    update(text) {
      const now = Date.now();
      if (now - last < everyMs) return;
      last = now;
      if (onTerminal) io.status!(text);
      else io.err(text);
    },
    done(text) {
      if (onTerminal) io.status!('');
      if (text) io.err(text);
    },
  };
}

/** A rate in units per second, rounded for people. */
export function rate(count: number, sinceMs: number, now = Date.now()): string {
  const seconds = (now - sinceMs) / 1000;
  return seconds > 0 ? `${(count / seconds).toFixed(count / seconds >= 10 ? 0 : 1)}/s` : '-';
}
