import type {DesignChange} from '../design/index.js';
import type {Store} from '../store/index.js';

/** The design document holding edw query's Mango indexes (language `query`). */
export const QUERY_DESIGN = 'edw-query';

/** Fields every database indexes for `edw query`: the run and the file's own time. */
export const BUILTIN_INDEX_FIELDS = ['run', 'datecreated'] as const;

/**
 * Create the Mango index of each field (built-in ones and `[query] indexes`) missing from
 * `_design/edw-query`, one index a field, named after it. Indexes are only added: one of a field no
 * longer listed is left (an analyst's script may rely on it).
 */
export async function pushQueryIndexes(store: Store, extra: string[], options: {dryRun?: boolean} = {}): Promise<DesignChange> {
  const id = `_design/${QUERY_DESIGN}`;
  const current = await store.get(id);
  const have = new Set(Object.keys((current?.views as Record<string, unknown> | undefined) ?? {}));
  const wanted = [...new Set([...BUILTIN_INDEX_FIELDS, ...extra])];
  const missing = wanted.filter((f) => !have.has(f));
  if (!options.dryRun) for (const field of missing) await store.createIndex({fields: [field], ddoc: QUERY_DESIGN, name: field});
  const action = !current ? 'created' : missing.length ? 'updated' : 'unchanged';
  return {id, action, added: missing.map((f) => `indexes.${f}`), changed: [], removed: []};
}
