import type {ViewParams} from './types.js';

/** CouchDB's view query parameters (which PouchDB's query() takes by the same names) from ViewParams. */
export function viewQuery(params: ViewParams): Record<string, unknown> {
  const names: Array<[keyof ViewParams, string]> = [
    ['key', 'key'], ['startkey', 'startkey'], ['endkey', 'endkey'], ['inclusiveEnd', 'inclusive_end'],
    ['reduce', 'reduce'], ['groupLevel', 'group_level'], ['includeDocs', 'include_docs'], ['conflicts', 'conflicts'], ['limit', 'limit'],
    ['skip', 'skip'], ['descending', 'descending'],
  ];
  const out: Record<string, unknown> = {};
  for (const [from, to] of names) if (params[from] !== undefined) out[to] = params[from];
  if (params.update === false) out.stale = 'ok';
  return out;
}
