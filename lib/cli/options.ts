import type {Command} from 'commander';
import {ConfigError} from '../errors/index.js';

/** A commander parser for a numeric option: a whole number (or any number) of at least `min`, else exit 2 naming it. */
export function numberOption(option: string, {integer = true, min = 0}: {integer?: boolean; min?: number} = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new ConfigError(`${option} ${value}: expected a ${integer ? 'whole ' : ''}number${min === -Infinity ? '' : ` of at least ${min}`}`);
    }
    return n;
  };
}

/** A commander parser for a repeatable option: every value given, in order. */
export const collect = (value: string, previous: string[]): string[] => [...previous, value];

/** What `addTimeOptions` adds, as parsed. */
export interface TimeOptions {
  from?: string;
  to?: string;
  season?: string;
  month?: string;
  week?: string;
  tz: string;
}

/** The time forms of `edw query` and `edw detections`: `--from`, `--to`, `--season`, `--month`, `--week`, `--tz`. */
export function addTimeOptions(command: Command, what: {from: string; to: string; tz: string}): Command {
  return command
    .option('--from <time>', what.from)
    .option('--to <time>', what.to)
    .option('--season <YYYY/YY>', 'September 1 of the first year to the end of May of the next')
    .option('--month <YYYY-MM>', 'a calendar month')
    .option('--week <YYYY-Www>', 'an ISO 8601 week (Monday to Sunday)')
    .option('--tz <zone>', what.tz, 'UTC');
}
