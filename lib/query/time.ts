import {ConfigError} from '../errors/index.js';

/**
 * A time given as epoch seconds or an ISO 8601 date, in epoch seconds. An ISO date without a zone
 * (`2025-10-01T12:00`) is UTC, as `Date.parse` reads a date-only form.
 */
export function parseTime(value: string, option: string): number {
  if (/^-?\d+(\.\d+)?$/.test(value)) return Number(value);
  const iso = /^\d{4}-\d{2}-\d{2}T[\d:.]+$/.test(value) ? `${value}Z` : value;
  const ms = Date.parse(iso);
  if (Number.isNaN(ms)) throw new ConfigError(`${option} ${value}: expected epoch seconds or an ISO 8601 date`);
  return ms / 1000;
}

/** A half-open time range in epoch seconds: `from <= t < to`. */
export interface TimeRange {
  from: number;
  to: number;
}

/** Check a time zone (`UTC`, `+02:00`, `Europe/Paris`) once, naming the option. */
export function checkZone(zone: string): string {
  if (/^[+-]\d{2}:\d{2}$/.test(zone)) return zone;
  try {
    new Intl.DateTimeFormat('en', {timeZone: zone});
  } catch {
    throw new ConfigError(`--tz ${zone}: not a time zone (UTC, +02:00 or a name like Europe/Paris)`);
  }
  return zone;
}

/** Offset of `zone` from UTC at the instant `ms`, in ms (positive east of Greenwich). */
function offsetMs(zone: string, ms: number): number {
  const fixed = /^([+-])(\d{2}):(\d{2})$/.exec(zone);
  if (fixed) return (fixed[1] === '-' ? -1 : 1) * (Number(fixed[2]) * 60 + Number(fixed[3])) * 60_000;
  const parts = Object.fromEntries(new Intl.DateTimeFormat('en-US', {
    timeZone: zone, hourCycle: 'h23', year: 'numeric', month: 'numeric', day: 'numeric', hour: 'numeric', minute: 'numeric', second: 'numeric',
  }).formatToParts(ms).map((p) => [p.type, Number(p.value)]));
  const asUtc = Date.UTC(parts.year!, parts.month! - 1, parts.day!, parts.hour!, parts.minute!, parts.second!);
  return asUtc - Math.floor(ms / 1000) * 1000;
}

/** Epoch seconds of midnight starting day `day` of `month` (0-based, may overflow) of `year` in `zone`. */
export function midnight(year: number, month: number, day: number, zone: string): number {
  const guess = Date.UTC(year, month, day);
  // The offset at the guess, then at the corrected instant: right across a change of daylight saving.
  const first = guess - offsetMs(zone, guess);
  return (guess - offsetMs(zone, first)) / 1000;
}

/** `--season 2025/26`: from September 1 of the first year to the end of May of the next. */
export function seasonRange(value: string, zone: string): TimeRange {
  const m = /^(\d{4})\/(\d{2})$/.exec(value);
  const first = Number(m?.[1]);
  if (!m || (first + 1) % 100 !== Number(m[2])) throw new ConfigError(`--season ${value}: expected YYYY/YY, two years in a row (2025/26)`);
  return {from: midnight(first, 8, 1, zone), to: midnight(first + 1, 5, 1, zone)};
}

/** `--month 2025-10`: the calendar month. */
export function monthRange(value: string, zone: string): TimeRange {
  const m = /^(\d{4})-(\d{2})$/.exec(value);
  const month = Number(m?.[2]) - 1;
  if (!m || month < 0 || month > 11) throw new ConfigError(`--month ${value}: expected YYYY-MM (2025-10)`);
  return {from: midnight(Number(m[1]), month, 1, zone), to: midnight(Number(m[1]), month + 1, 1, zone)};
}

/** `--week 2025-W41`: the ISO 8601 week, Monday to Sunday. */
export function weekRange(value: string, zone: string): TimeRange {
  const m = /^(\d{4})-W(\d{2})$/.exec(value);
  const week = Number(m?.[2]);
  const year = Number(m?.[1]);
  // Week 1 holds January 4; its Monday starts the ISO year. A year has 53 weeks when week 53's Thursday is in it.
  const jan4 = new Date(Date.UTC(year, 0, 4)).getUTCDay() || 7;
  const day = 4 - (jan4 - 1) + (week - 1) * 7;
  const weeks = new Date(Date.UTC(year, 0, 1)).getUTCDay() === 4 || new Date(Date.UTC(year, 11, 31)).getUTCDay() === 4 ? 53 : 52;
  if (!m || week < 1 || week > weeks) throw new ConfigError(`--week ${value}: expected YYYY-Www, a week of that year (2025-W41)`);
  return {from: midnight(year, 0, day, zone), to: midnight(year, 0, day + 7, zone)};
}

/** Epoch seconds of the midnight in `zone` that starts the day holding `seconds`. */
export function startOfDay(seconds: number, zone: string): number {
  if (zone === 'UTC' || zone === '+00:00') return Math.floor(seconds / 86_400) * 86_400;
  const local = seconds * 1000 + offsetMs(zone, seconds * 1000);
  const day = new Date(local);
  return midnight(day.getUTCFullYear(), day.getUTCMonth(), day.getUTCDate(), zone);
}
