import {ConfigError} from '../errors/index.js';
import {canonicalQuery, type QueryForm} from './canonical.js';
import {parseFilter, type Filter} from './filters.js';
import {checkZone, monthRange, parseTime, seasonRange, weekRange, type TimeRange} from './time.js';

/** A query as a command line gives it: the FILTER arguments and the options, as typed. */
export interface QueryArgs {
  /** `PATH OP VALUE` arguments. */
  filters?: string[];
  /** `--run`: runs, or prefixes `R*`. */
  run?: string[];
  from?: string;
  to?: string;
  season?: string;
  month?: string;
  week?: string;
  /** Zone of the named ranges. @default 'UTC' */
  tz?: string;
  stage?: string[];
  failed?: boolean;
  done?: string[];
  notDone?: string[];
}

/** The field holding a data file's own time. */
export const TIME_FIELD = 'datecreated';

/** Time options as filters on the file's own time: `--from`/`--to` both included, named ranges half-open. */
export function timeFilters(args: QueryArgs): Filter[] {
  const zone = checkZone(args.tz ?? 'UTC');
  const filters: Filter[] = [];
  if (args.from !== undefined) filters.push({path: TIME_FIELD, op: '>=', value: parseTime(args.from, '--from')});
  if (args.to !== undefined) filters.push({path: TIME_FIELD, op: '<=', value: parseTime(args.to, '--to')});
  const ranges: TimeRange[] = [
    ...(args.season ? [seasonRange(args.season, zone)] : []),
    ...(args.month ? [monthRange(args.month, zone)] : []),
    ...(args.week ? [weekRange(args.week, zone)] : []),
  ];
  for (const r of ranges) filters.push({path: TIME_FIELD, op: '>=', value: r.from}, {path: TIME_FIELD, op: '<', value: r.to});
  return filters;
}

/** The time options as one range: the latest start and the earliest end of those given (none: open). */
export interface TimeBounds {
  from?: number;
  to?: number;
  /** Whether `to` itself is out of the range (named ranges end before their next one starts). */
  toExclusive: boolean;
}

export function timeBounds(args: QueryArgs): TimeBounds {
  const bounds: TimeBounds = {toExclusive: false};
  for (const f of timeFilters(args)) {
    const v = f.value as number;
    if (f.op === '>=') bounds.from = Math.max(bounds.from ?? -Infinity, v);
    else if (bounds.to === undefined || v < bounds.to || (v === bounds.to && f.op === '<')) {
      bounds.to = v;
      bounds.toExclusive = f.op === '<';
    }
  }
  if (bounds.from !== undefined && bounds.to !== undefined && bounds.to < bounds.from) throw new ConfigError('the time range is empty: it ends before it starts');
  return bounds;
}

function stepArg(option: string, value: string): string {
  if (!/^[\w.-]+(@[\w.-]+)?$/.test(value)) throw new ConfigError(`${option} ${value}: expected STEP or STEP@VERSION`);
  return value;
}

/** The canonical form of the query a command line asks for; bad input is one ConfigError naming it. */
export function queryFromArgs(args: QueryArgs): QueryForm {
  return canonicalQuery({
    filters: [...(args.filters ?? []).map(parseFilter), ...timeFilters(args)],
    runs: args.run,
    stages: args.stage,
    failed: args.failed,
    done: (args.done ?? []).map((d) => stepArg('--done', d)),
    notDone: (args.notDone ?? []).map((d) => stepArg('--not-done', d)),
  });
}
