import {ConfigError, NotFoundError} from '../errors/index.js';
import {readQueryDoc} from '../query/index.js';
import type {Store} from '../store/index.js';
import {idsOf, PROVENANCE_DESIGN} from './marks.js';
import {selectionIds} from './selections.js';

/**
 * The documents a command is run over, one way at a time: the files of runs, of a saved query (issue
 * 17's `edw query`: the document `query:<QID>` holding `ids`), of a period (every file ever marked in
 * it), of a saved selection (its latest version), or ids given.
 */
export interface Targets {
  run?: string[];
  query?: string;
  period?: string;
  selection?: string;
  ids?: string[];
}

/** What a set of targets resolved to, and how it was asked for (recorded with what is done to it). */
export interface Resolved {
  ids: string[];
  asked: Targets;
}

/** Resolve targets to document ids (sorted, each once). Exactly one way must be given (exit 2 otherwise). */
export async function resolveTargets(store: Store, targets: Targets): Promise<Resolved> {
  const given = (['run', 'query', 'period', 'selection', 'ids'] as const).filter((k) => {
    const value = targets[k];
    return Array.isArray(value) ? value.length > 0 : value !== undefined;
  });
  if (given.length !== 1) {
    throw new ConfigError(given.length === 0 ? 'say which documents: --run R, --query QID, --period NAME, --selection NAME or ids'
      : `one of --run, --query, --period, --selection or ids at a time (got ${given.map((k) => (k === 'ids' ? 'ids' : `--${k}`)).join(' and ')})`);
  }
  const ids = new Set<string>();
  const asked: Targets = {[given[0]!]: targets[given[0]!]};
  if (targets.run?.length) for (const run of targets.run) for (const id of await idsOf(store, 'file_run', {key: run})) ids.add(id);
  if (targets.query !== undefined) for (const id of await queryIds(store, targets.query)) ids.add(id);
  if (targets.period !== undefined) {
    const period = await store.get(`period:${targets.period}`);
    if (!period) throw new NotFoundError(`no period ${targets.period} (edw period list shows them)`);
    const rows = await store.query({design: PROVENANCE_DESIGN, view: 'period_files', key: targets.period, reduce: false});
    for (const row of rows.rows) ids.add(row.id!);
  }
  if (targets.selection !== undefined) for (const id of await selectionIds(store, targets.selection)) ids.add(id);
  for (const id of targets.ids ?? []) ids.add(id);
  return {ids: [...ids].sort(), asked};
}

/** The ids a saved query holds (`query:<QID>`, written by `edw query`: its answer as it was computed). */
export async function queryIds(store: Store, qid: string): Promise<string[]> {
  const doc = await readQueryDoc(store, qid);
  if (!doc || !Array.isArray(doc.ids)) throw new NotFoundError(`no query ${qid} (run 'edw query ...' first)`);
  return doc.ids.filter((id): id is string => typeof id === 'string');
}
