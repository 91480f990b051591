import winston from 'winston';

export type Logger = winston.Logger;

/**
 * The levels edw logs at, quietest first: `info` is what an operator needs (failures, outages,
 * summaries), `verbose` adds a line per document and step, `debug` the runtime's inner workings.
 */
export const LOG_LEVELS = ['error', 'warn', 'info', 'verbose', 'debug'] as const;
export type LogLevel = typeof LOG_LEVELS[number];

/** The more talkative of two levels (a command's `--verbose` never quietens `debug`). */
export function louder(a: LogLevel, b: LogLevel): LogLevel {
  return LOG_LEVELS.indexOf(a) >= LOG_LEVELS.indexOf(b) ? a : b;
}

export interface LoggerOptions {
  /** @default 'info' */
  level?: LogLevel;
  /** `text` for people at a terminal, `json` (one object per line) for machines. @default 'text' */
  format?: 'text' | 'json';
  /** Where lines go. @default process.stderr (stdout is kept for command output) */
  stream?: NodeJS.WritableStream;
}

function fields(info: Record<string | symbol, unknown>): string {
  const skip = new Set(['level', 'message', 'timestamp']);
  return Object.entries(info)
    .filter(([k]) => !skip.has(k))
    .map(([k, v]) => `${k}=${typeof v === 'string' && !/\s/.test(v) ? v : JSON.stringify(v)}`)
    .join(' ');
}

/** The one logger of a process; modules get it (or a child) passed in. */
export function createLogger(options: LoggerOptions = {}): Logger {
  const text = winston.format.printf((info) => {
    const rest = fields(info as Record<string | symbol, unknown>);
    return `${String(info.timestamp)} ${info.level.padEnd(5)} ${String(info.message)}${rest ? ` ${rest}` : ''}`;
  });
  return winston.createLogger({
    level: options.level ?? 'info',
    format: options.format === 'json'
      ? winston.format.combine(winston.format.timestamp(), winston.format.json())
      : winston.format.combine(winston.format.timestamp(), text),
    transports: [new winston.transports.Stream({stream: options.stream ?? process.stderr})],
  });
}

/** A logger that writes nothing (for library use and tests that do not look at logs). */
export function silentLogger(): Logger {
  return winston.createLogger({silent: true, transports: [new winston.transports.Console({silent: true})]});
}
