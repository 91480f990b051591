import type {FindParams, FindPlan, IndexSpec} from './types.js';

/**
 * Mango's default `limit` is 25 (CouchDB and pouchdb-find alike): a query that wants every match
 * says so with a limit no answer reaches.
 */
const EVERY_MATCH = 2 ** 31 - 1;

/** The body of a `_find` or `_explain` request (what PouchDB's find() also takes) from FindParams. */
export function findRequest(params: FindParams): Record<string, unknown> {
  return {
    selector: params.selector,
    limit: params.limit ?? EVERY_MATCH,
    ...(params.fields ? {fields: params.fields} : {}),
    ...(params.useIndex ? {use_index: params.useIndex} : {}),
  };
}

/** The body of an `_index` request from IndexSpec. */
export function indexRequest(spec: IndexSpec): Record<string, unknown> {
  return {index: {fields: spec.fields}, ddoc: spec.ddoc, name: spec.name, type: 'json'};
}

/** FindPlan from an `_explain` answer (CouchDB and pouchdb-find give the same shape). */
export function findPlan(answer: {index?: {ddoc?: string | null; name?: string; type?: string; def?: {fields?: Array<Record<string, string> | string>}}}): FindPlan {
  const index = answer.index ?? {};
  const fields = (index.def?.fields ?? []).map((f) => (typeof f === 'string' ? f : Object.keys(f)[0]!));
  return {ddoc: index.ddoc ? index.ddoc.replace(/^_design\//, '') : null, name: index.name ?? '_all_docs', type: index.type ?? 'special', fields};
}
