import {Writable} from 'node:stream';
import {loadConfig, type Config} from '../config/index.js';
import {createLogger, type Logger} from '../log/index.js';
import {openStore, type Store} from '../store/index.js';

/** Options every command accepts. */
export interface GlobalOptions {
  config?: string;
  debug?: boolean;
}

/** Output channels, so tests and other callers can capture what a command prints. */
export interface Io {
  out: (line: string) => void;
  err: (line: string) => void;
  /** Whether the output is a terminal (progress redraws one line there; plain lines otherwise). */
  tty: boolean;
  /**
   * On a terminal, show `text` as the status line: the last line on stderr, redrawn below each line
   * printed after it ('' removes it). Elsewhere it prints nothing. @default none: no status line
   */
  status?: (text: string) => void;
}

/** What a terminal Io writes to: raw text, as it goes to the streams. */
export interface TerminalSink {
  /** Writes to stdout. */
  out: (text: string) => void;
  /** Writes to stderr, where the status line is. */
  err: (text: string) => void;
  /** Whether stderr is a terminal: only then is a status line drawn. */
  tty: boolean;
  /** Width of the terminal, to keep the status line on one row (a wrapped one cannot be redrawn); 0 or undefined is 80. @default 80 */
  columns?: () => number | undefined;
}

/** Carriage return and erase-line: the cursor's row is blank again, the cursor at its start. */
const CLEAR_LINE = '\r\x1b[2K';

/**
 * An Io over raw streams. On a terminal the status line stays below everything printed: each line
 * first erases it, then is written whole, then the status is drawn again, so a log line never lands
 * on the status line's text. Off a terminal only whole lines are written: no \r, no escape codes.
 */
export function terminalIo(sink: TerminalSink): Io {
  let shown = '';
  const around = (write: () => void): void => {
    if (shown) sink.err(CLEAR_LINE);
    write();
    if (shown) sink.err(shown);
  };
  return {
    out: (line) => around(() => sink.out(`${line}\n`)),
    err: (line) => around(() => sink.err(`${line}\n`)),
    tty: sink.tty,
    status(text) {
      if (!sink.tty) return;
      // A pseudo-terminal without a size reports 0 columns.
      const width = Math.max(10, (sink.columns?.() || 80) - 1);
      const line = text.replace(/[\r\n]+/g, ' ').slice(0, width);
      if (line === shown) return;
      sink.err(line ? `${CLEAR_LINE}${line}` : CLEAR_LINE);
      shown = line;
    },
  };
}

export const processIo: Io = terminalIo({
  out: (text) => process.stdout.write(text),
  err: (text) => process.stderr.write(text),
  tty: !!process.stderr.isTTY,
  columns: () => process.stderr.columns,
});

/** The configuration the user asked for (`--config`, else ./edw.ini if present, else defaults), with notes printed once. */
export function readConfig(global: GlobalOptions, io: Io): Config {
  const config = loadConfig({...(global.config ? {path: global.config, explicit: true} : {})});
  for (const note of config.notes) io.err(`note: ${note}`);
  return config;
}

/** The command's logger; its lines go where the command's other errors go (`io.err`). */
export function makeLogger(config: Config, global: GlobalOptions, io: Io = processIo): Logger {
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      io.err(chunk.toString('utf8').replace(/\n$/, ''));
      done();
    },
  });
  return createLogger({level: global.debug ? 'debug' : config.log.level, format: config.log.format, stream});
}

/** Open the configured database, run `work`, close it whatever happens. */
export async function withStore<T>(config: Config, work: (store: Store) => Promise<T>, options: {create?: boolean; share?: boolean} = {}): Promise<T> {
  const store = await openStore({...config.database, ...options});
  try {
    return await work(store);
  } finally {
    await store.close();
  }
}
