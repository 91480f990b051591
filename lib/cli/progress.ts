import type {Io} from './context.js';

/**
 * Progress for long work: on a terminal one line redrawn in place (at most every `everyMs`); otherwise
 * a plain line now and then, so logs stay readable.
 */
export function progressLine(io: Io, options: {everyMs?: number} = {}): {update(text: string): void; done(text?: string): void} {
  const everyMs = options.everyMs ?? (io.tty ? 200 : 5000);
  let last = 0;
  let shown = '';
  return {
    update(text) {
      const now = Date.now();
      if (now - last < everyMs) return;
      last = now;
      if (io.tty) process.stderr.write(`\r\x1b[2K${text}`);
      else io.err(text);
      shown = text;
    },
    done(text) {
      if (io.tty && shown) process.stderr.write('\r\x1b[2K');
      if (text) io.err(text);
    },
  };
}

/** A rate in units per second, rounded for people. */
export function rate(count: number, sinceMs: number): string {
  const seconds = (Date.now() - sinceMs) / 1000;
  return seconds > 0 ? `${(count / seconds).toFixed(count / seconds >= 10 ? 0 : 1)}/s` : '-';
}
