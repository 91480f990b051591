/**
 * PouchDB's view engine with each map and reduce function compiled once per index update, installed
 * over PouchDB's own `query`/`viewCleanup` for the embedded backend.
 *
 * PouchDB 9's Node build (pouchdb-mapreduce) runs a view's map function by writing the document into a
 * source string and evaluating it in a fresh `vm` context for every document: about 0.7 ms each, so
 * building the stage view took 13.5 s for 20,000 documents here, and the listeners' start-up sweep
 * waits for that build. The engine itself (pouchdb-abstract-mapreduce, the same code PouchDB bundles,
 * same index format and `mrviews` name, so existing indexes stay valid) is reused as it is; only the
 * function evaluation differs: compiled once in one `vm` context (still apart from edw's globals),
 * then called per document. Map functions get the document itself, not a copy, so they must not
 * modify it (CouchDB's rule too; edw's own do not).
 */
import vm from 'node:vm';
import createAbstractMapReduce from 'pouchdb-abstract-mapreduce';

type Emit = (key: unknown, value: unknown) => void;

class BuiltInReduceError extends Error {
  constructor(name: string) {
    super(`builtin ${name} function requires map values to be numbers or number arrays`);
    this.name = 'invalid_value';
  }
}

function sum(values: unknown[]): number | number[] {
  let result: number | number[] = 0;
  for (const value of values) {
    if (typeof value === 'number') {
      if (typeof result === 'number') result += value;
      else result[0] = (result[0] ?? 0) + value;
    } else if (Array.isArray(value)) {
      // Lists of numbers are summed position by position, as CouchDB does.
      const list: number[] = typeof result === 'number' ? [result] : result;
      value.forEach((n, j) => {
        if (typeof n !== 'number') throw new BuiltInReduceError('_sum');
        list[j] = (list[j] ?? 0) + n;
      });
      result = list;
    } else throw new BuiltInReduceError('_sum');
  }
  return result;
}

const BUILT_IN: Record<string, (keys: unknown, values: unknown[]) => unknown> = {
  _sum: (_keys, values) => sum(values),
  _count: (_keys, values) => values.length,
  _stats: (_keys, values) => {
    const numbers = values as number[];
    return {
      sum: sum(numbers), min: Math.min(...numbers), max: Math.max(...numbers), count: numbers.length,
      sumsqr: numbers.reduce((a, n) => a + n * n, 0),
    };
  },
};

/** A design document function's source, compiled once in its own context with CouchDB's helpers. */
function compile(source: string, emit?: Emit): (...args: unknown[]) => unknown {
  const sandbox = {emit: emit ?? (() => {}), sum, log: () => {}, isArray: Array.isArray, toJSON: JSON.parse};
  return vm.runInNewContext(`"use strict"; (${source.replace(/;\s*$/, '')})`, sandbox) as (...args: unknown[]) => unknown;
}

function mapper(mapFun: unknown, emit: Emit): (doc: unknown) => unknown {
  // A function of two arguments (a temporary view) gets emit as its second.
  if (typeof mapFun === 'function' && mapFun.length === 2) return (doc) => (mapFun as (d: unknown, e: Emit) => unknown)(doc, emit);
  const map = compile(String(mapFun), emit);
  return (doc) => map(doc);
}

function reducer(reduceFun: unknown): (keys: unknown, values: unknown[], rereduce: boolean) => unknown {
  const source = String(reduceFun).trim();
  const builtIn = /^_(sum|count|stats)\b/.exec(source);
  if (builtIn) return BUILT_IN[`_${builtIn[1]}`]!;
  if (source.startsWith('_')) throw new Error(`${source} is not a supported reduce function.`);
  return compile(source) as (keys: unknown, values: unknown[], rereduce: boolean) => unknown;
}

function ddocValidator(ddoc: {_id: string; views?: Record<string, {map?: unknown}>}, viewName: string): void {
  const fun = ddoc.views?.[viewName];
  if (typeof fun?.map !== 'string') {
    const error = new Error(`ddoc ${ddoc._id} has no string view named ${viewName}, instead found object of type: ${typeof fun?.map}`) as Error & {status: number};
    error.name = 'not_found';
    error.status = 404;
    throw error;
  }
}

const engine = createAbstractMapReduce('mrviews', mapper, reducer, ddocValidator);

/** A PouchDB plugin: `PouchDB.plugin(compiledViews)`. */
export const compiledViews = {
  query(this: unknown, fun: unknown, opts: unknown, callback?: unknown): unknown {
    return engine.query.call(this, fun, opts, callback);
  },
  viewCleanup(this: unknown, callback?: unknown): unknown {
    return engine.viewCleanup.call(this, callback);
  },
};
