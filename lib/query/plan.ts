import type {QueryForm} from './canonical.js';
import type {Filter, Scalar} from './filters.js';

const MANGO: Record<string, string> = {'<': '$lt', '<=': '$lte', '>': '$gt', '>=': '$gte'};

/**
 * The comparisons on one path, as one range clause of their type. The open end of a range is bounded
 * by its type, so that it compares values of that type only: CouchDB collates null < false < true <
 * numbers < strings < arrays < objects, so `< 0.02` alone would take null and booleans. Bounds rather
 * than `$type`, which pouchdb-find 7 (inside pouchdb-server) refuses on an indexed field; merged here
 * rather than left to the server, as pouchdb-find merges two bounds of different types wrongly.
 */
function rangeClause(path: string, comparisons: Filter[]): Record<string, unknown> {
  const value = (f: Filter): Scalar => f.value as Scalar;
  const tighter = (a: Filter, b: Filter, lower: boolean): Filter => {
    const [x, y] = [value(a) as number, value(b) as number];
    if (x !== y) return (lower ? x > y : x < y) ? a : b;
    return a.op.length < b.op.length ? a : b; // strict beats inclusive
  };
  const lowers = comparisons.filter((f) => f.op.startsWith('>'));
  const uppers = comparisons.filter((f) => f.op.startsWith('<'));
  const lower = lowers.reduce<Filter | undefined>((best, f) => (best ? tighter(best, f, true) : f), undefined);
  const upper = uppers.reduce<Filter | undefined>((best, f) => (best ? tighter(best, f, false) : f), undefined);
  const sample = value(comparisons[0]!);
  const range: Record<string, unknown> = {};
  if (lower) range[MANGO[lower.op]!] = value(lower);
  else if (typeof sample === 'number') range.$gt = true;
  else if (typeof sample === 'string') range.$gte = '';
  if (upper) range[MANGO[upper.op]!] = value(upper);
  else if (typeof sample === 'number') range.$lt = '';
  else if (typeof sample === 'string') range.$lt = [];
  return {[path]: range};
}

const escapeRegex = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

/**
 * The Mango clauses of one filter, of which one must hold (most filters have one). A filter on a field
 * the document lacks never matches, `!=` included.
 */
export function filterClause(f: Filter): Array<Record<string, unknown>> {
  return [...clauses(f)];
}

function clauses(f: Filter): Array<Record<string, unknown>> {
  const v = f.value as Scalar;
  switch (f.op) {
    case '=': return [{[f.path]: {$eq: v}}];
    case '!=': return [{[f.path]: {$exists: true, $ne: v}}];
    case '<': case '<=': case '>': case '>=': return [rangeClause(f.path, [f])];
    case 'in': return [{[f.path]: {$in: f.value}}];
    // Strings sort by ICU collation on CouchDB: a prefix's range ends before the highest code points.
    case 'prefix': return [{[f.path]: {$gte: v, $lt: `${String(v)}\ufff0`}}];
    case 'contains':
      // An array holding the value, or a text holding it. Two selectors rather than one `$or`:
      // pouchdb-find 7 (inside pouchdb-server) fails on `$regex` inside `$or`.
      return typeof v === 'string'
        ? [{[f.path]: {$elemMatch: {$eq: v}}}, {[f.path]: {$regex: escapeRegex(v)}}]
        : [{[f.path]: {$elemMatch: {$eq: v}}}];
  }
}

/** `STEP@VERSION` completed: an entry of that name (and version) done, or in the seed's shape (no status). */
function doneClause(step: string): Record<string, unknown> {
  const [name, version] = step.split('@');
  return {process: {$elemMatch: {name, ...(version !== undefined ? {version} : {}), $or: [{status: 'done'}, {status: {$exists: false}}]}}};
}

/** How the database answers a query: Mango selectors, and the stages read from the stage view. */
export interface QueryPlan {
  /**
   * Selectors whose answers together are the query's (`process` exists in each: data-file documents
   * only); one, except that each `contains` of a text doubles them (an array holding it, a text holding it).
   */
  selectors: Array<Record<string, unknown>>;
  /** Whether the selector says more than "a data-file document"; if not, stages alone may answer. */
  selective: boolean;
  /** Stages the documents must be at, from the `stage` view (empty: any stage). */
  stages: string[];
}

export function planQuery(form: QueryForm): QueryPlan {
  const isRange = (f: Filter): boolean => f.op in MANGO;
  // Comparisons on one path and of one type make one range.
  const ranges = new Map<string, Filter[]>();
  for (const f of form.filters.filter(isRange)) {
    const key = JSON.stringify([f.path, typeof f.value]);
    ranges.set(key, [...(ranges.get(key) ?? []), f]);
  }
  const alternatives: Array<Array<Record<string, unknown>>> = [
    ...form.filters.filter((f) => !isRange(f)).map(filterClause),
    ...[...ranges.values()].map((fs) => [rangeClause(fs[0]!.path, fs)]),
    ...(form.failed ? [[{'edw.failed': {$exists: true}}]] : []),
    ...form.done.map((d) => [doneClause(d)]),
    ...(form.notDone.length ? [[{$nor: form.notDone.map(doneClause)}]] : []),
  ];
  // Every way of taking one clause of each filter.
  let conjunctions: Array<Array<Record<string, unknown>>> = [[{process: {$exists: true}}]];
  for (const choices of alternatives) conjunctions = conjunctions.flatMap((c) => choices.map((choice) => [...c, choice]));
  return {selectors: conjunctions.map((c) => ({$and: c})), selective: alternatives.length > 0, stages: form.stages};
}
