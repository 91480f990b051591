import {createHash} from 'node:crypto';
import {ConfigError} from '../errors/index.js';
import type {Filter, Scalar} from './filters.js';

/**
 * A query in its one canonical form: the same filters given in any order, or as options that mean the
 * same (`--from T` is `datecreated>=T`, a season its two ends), give the same form and so the same id.
 */
export interface QueryForm {
  /** Conditions on fields, all to hold, sorted; `--run`, times and seasons among them. */
  filters: Filter[];
  /** The document is at one of these stages (sorted), from the stage view. */
  stages: string[];
  /** The document failed for good at some step. */
  failed: boolean;
  /** Steps (`STEP` or `STEP@VERSION`) the document completed, sorted. */
  done: string[];
  /** Steps it did not complete, sorted. */
  notDone: string[];
}

/** What the command line gives, before it is brought to one form. */
export interface QueryInput {
  filters?: Filter[];
  /** `--run`: exact runs, or prefixes written `R*`. */
  runs?: string[];
  stages?: string[];
  failed?: boolean;
  done?: string[];
  notDone?: string[];
}

/** Values compare in one order whatever their type: by JSON text. */
const key = (v: unknown): string => JSON.stringify(v);
const byKey = (a: unknown, b: unknown): number => (key(a) < key(b) ? -1 : key(a) > key(b) ? 1 : 0);
const sortedUnique = <T>(values: T[]): T[] => [...new Map(values.map((v) => [key(v), v])).values()].sort(byKey);

function runFilters(runs: string[]): Filter[] {
  const prefixes = runs.filter((r) => r.endsWith('*'));
  const exact = sortedUnique(runs.filter((r) => !r.endsWith('*')));
  if (prefixes.length > 0 && runs.length > 1) {
    throw new ConfigError(`--run ${runs.join(' --run ')}: a prefix (R*) cannot be combined with other --run values`);
  }
  if (prefixes.length === 1) return [{path: 'run', op: 'prefix', value: prefixes[0]!.slice(0, -1)}];
  if (exact.length === 1) return [{path: 'run', op: '=', value: exact[0]!}];
  return exact.length ? [{path: 'run', op: 'in', value: exact}] : [];
}

/** Bring a query to its canonical form: one filter per meaning, every list sorted, `in (x)` as `= x`. */
export function canonicalQuery(input: QueryInput): QueryForm {
  const filters = [...(input.filters ?? []), ...runFilters(input.runs ?? [])].map((f): Filter => {
    if (f.op !== 'in') return f;
    const values = sortedUnique(f.value as Scalar[]);
    return values.length === 1 ? {path: f.path, op: '=', value: values[0]!} : {path: f.path, op: 'in', value: values};
  });
  return {
    filters: sortedUnique(filters.map((f) => ({path: f.path, op: f.op, value: f.value}))),
    stages: sortedUnique(input.stages ?? []),
    failed: !!input.failed,
    done: sortedUnique(input.done ?? []),
    notDone: sortedUnique(input.notDone ?? []),
  };
}

/** The query id: md5 of the canonical form's JSON (keys in a fixed order). */
export function queryId(form: QueryForm): string {
  const fixed = {filters: form.filters.map((f) => ({path: f.path, op: f.op, value: f.value})), stages: form.stages, failed: form.failed, done: form.done, notDone: form.notDone};
  return createHash('md5').update(JSON.stringify(fixed)).digest('hex');
}

/** A query as one line for people: `run=ma22a000 datecreated>=1378000000 stage=new`. */
export function describeQuery(form: QueryForm): string {
  const parts = form.filters.map((f) => f.op === 'in' ? `${f.path} in (${(f.value as Scalar[]).join(',')})` : f.op === 'prefix' ? `${f.path}=${String(f.value)}*` : `${f.path}${/^[a-z]/.test(f.op) ? ` ${f.op} ` : f.op}${String(f.value)}`);
  if (form.stages.length) parts.push(`stage in (${form.stages.join(',')})`);
  if (form.failed) parts.push('failed');
  for (const d of form.done) parts.push(`done ${d}`);
  for (const d of form.notDone) parts.push(`not done ${d}`);
  return parts.join(' ') || '(every data-file document)';
}
