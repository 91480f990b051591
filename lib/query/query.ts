import type {FindPlan, Store} from '../store/index.js';
import {namedDocumentChanged, readQueryDoc, requireQueryDoc, saveAnswer, stagesOf, type QueryDoc} from './cache.js';
import {queryId, type QueryForm} from './canonical.js';
import {planQuery} from './plan.js';
import {runPlan} from './run.js';

export interface QueryOptions {
  /** How long a cached answer is returned as it is (`[query] fresh`). @default 300000 */
  freshMs?: number;
  /** Compute the answer again whatever the cache holds. @default false */
  fresh?: boolean;
  /** Return the cached answer whatever its age (paging through an answer keeps its pages stable). @default false */
  reuse?: boolean;
  /** Also ask which index answers the selector. @default false */
  explain?: boolean;
  /** The clock. @default () => new Date() */
  now?: () => Date;
  signal?: AbortSignal;
}

/** An answer to `edw query`: the query document, and how it was come by. */
export interface QueryResult {
  id: string;
  doc: QueryDoc;
  /** Returned from the cache, without a query of the database. */
  cached: boolean;
  /** Age of the answer in ms. */
  ageMs: number;
  /** Why a cached answer was not used: `stale: ID changed`, `older than 5m`. */
  recomputed?: string;
  /** Mango's warning when no index served the selector. */
  warning?: string;
  /** With `explain`: the index the selector is answered from, and whether the stage view is read. */
  plan?: {index: FindPlan | null; stageView: boolean};
}

/**
 * Answer a query: from its cached document while fresh (no `_find` and no view read; one read of the
 * feed since the answer's position checks that no document it names changed), else from the database,
 * saving the answer under the query id.
 */
export async function runQuery(store: Store, form: QueryForm, options: QueryOptions = {}): Promise<QueryResult> {
  const freshMs = options.freshMs ?? 300_000;
  const now = options.now ?? (() => new Date());
  const id = queryId(form);
  let recomputed: string | undefined;
  const plan = planQuery(form);
  const explained = options.explain ? {index: plan.selective || !plan.stages.length ? await store.explain({selector: plan.selectors[0]!, signal: options.signal}) : null, stageView: plan.stages.length > 0} : undefined;
  const withPlan = explained ? {plan: explained} : {};
  if (!options.fresh) {
    const cached = await readQueryDoc(store, id, options.signal);
    if (cached) {
      const ageMs = now().getTime() - Date.parse(cached.computed);
      if (options.reuse) return {id, doc: cached, cached: true, ageMs, ...withPlan};
      const changed = ageMs > freshMs ? `older than ${Math.round(freshMs / 1000)} s` : await namedDocumentChanged(store, cached, undefined, options.signal);
      if (!changed) return {id, doc: cached, cached: true, ageMs, ...withPlan};
      recomputed = changed;
    }
  }
  const answer = await runPlan(store, plan, options.signal);
  const doc = await saveAnswer(store, id, form, answer, now());
  return {
    id, doc, cached: false, ageMs: 0, ...(recomputed ? {recomputed} : {}), ...(answer.warning ? {warning: answer.warning} : {}),
    ...withPlan,
  };
}

/** What changed in a past answer: documents that match now and did not, no longer match, or moved stage. */
export interface QueryChanges {
  doc: QueryDoc;
  added: string[];
  removed: string[];
  changedStage: Array<{id: string; from: string; to: string}>;
  /** md5 of the answer as the database gives it now. */
  md5Now: string;
}

/** Re-read a past query: its answer then against the database now. The saved answer is left as it was. */
export async function showQuery(store: Store, qid: string, signal?: AbortSignal): Promise<QueryChanges> {
  const doc = await requireQueryDoc(store, qid);
  const answer = await runPlan(store, planQuery(doc.query), signal);
  const then = stagesOf(doc);
  const now = new Map(answer.ids.map((id, i) => [id, answer.stages[i]!]));
  return {
    doc,
    added: answer.ids.filter((id) => !then.has(id)),
    removed: doc.ids.filter((id) => !now.has(id)),
    changedStage: doc.ids.filter((id) => now.has(id) && now.get(id) !== then.get(id)).map((id) => ({id, from: then.get(id)!, to: now.get(id)!})),
    md5Now: answer.md5,
  };
}
