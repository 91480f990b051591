import {createHash} from 'node:crypto';
import {DESIGN} from '../design/index.js';
import {isDataFile, stageOf} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import type {QueryPlan} from './plan.js';

/** What a query found: the matching documents' ids, sorted, each with its stage. */
export interface Answer {
  /** Document ids, sorted (JavaScript's order of code units). */
  ids: string[];
  /** The stage of each document of `ids`, same order. */
  stages: string[];
  /** md5 of the sorted ids joined by newlines. */
  md5: string;
  /** The database position read before the query: the answer reflects at least every change up to it. */
  seq: string;
  /** Mango's warning when no index served the selector (every document was read). */
  warning?: string;
}

/** md5 of ids joined by newlines: the checksum of an answer. */
export function idsMd5(ids: string[]): string {
  return createHash('md5').update(ids.join('\n')).digest('hex');
}

const PAGE = 5000;

/** Id and stage of every document at `stage`, from the stage view, a page at a time. */
async function stageRows(store: Store, stage: string, signal?: AbortSignal): Promise<Map<string, string>> {
  const found = new Map<string, string>();
  let startkey: unknown = [stage];
  for (let first = true; ; first = false) {
    const {rows} = await store.query({
      design: DESIGN, view: 'stage', reduce: false, startkey, endkey: [stage, {}], limit: PAGE, ...(first ? {} : {skip: 1, update: false}), signal,
    });
    for (const row of rows) found.set(row.id!, stage);
    if (rows.length < PAGE) return found;
    startkey = rows[rows.length - 1]!.key;
  }
}

/**
 * Answer a plan from the database's own indexes: Mango `_find` for each selector (only ids and
 * `process` come back, for each document's stage), the stage view for stages; both when both are asked.
 */
export async function runPlan(store: Store, plan: QueryPlan, signal?: AbortSignal): Promise<Answer> {
  const seq = (await store.info(signal)).updateSeq;
  let byStage: Map<string, string> | undefined;
  if (plan.stages.length) {
    byStage = new Map();
    for (const stage of plan.stages) for (const [id, s] of await stageRows(store, stage, signal)) byStage.set(id, s);
  }
  let found = byStage;
  let warning: string | undefined;
  if (plan.selective || !byStage) {
    const docs = [];
    for (const selector of plan.selectors) {
      const answer = await store.find({selector, fields: ['_id', 'process'], signal});
      warning ??= answer.warning;
      docs.push(...answer.docs);
    }
    found = new Map();
    for (const doc of docs) {
      if (!isDataFile(doc)) continue;
      // The stage view and the document were read at different moments: the view's stage is the one asked for.
      if (byStage && !byStage.has(doc._id)) continue;
      found.set(doc._id, byStage?.get(doc._id) ?? stageOf(doc));
    }
  }
  const ids = [...found!.keys()].sort();
  return {ids, stages: ids.map((id) => found!.get(id)!), md5: idsMd5(ids), seq, ...(warning ? {warning} : {})};
}
