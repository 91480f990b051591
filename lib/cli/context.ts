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
}

export const processIo: Io = {
  out: (line) => process.stdout.write(`${line}\n`),
  err: (line) => process.stderr.write(`${line}\n`),
  tty: !!process.stderr.isTTY,
};

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
