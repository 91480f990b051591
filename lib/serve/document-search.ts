import {checkStage, docCellOf, type DocState} from '../inspect/index.js';
import {isDataFile, type DataFileDoc} from '../pipeline/index.js';
import {canonicalQuery, parseFilter, planQuery, runPlan} from '../query/index.js';
import type {RouteContext} from './context.js';
import {decodeCursor, encodeCursor} from './cursor.js';

/** A search of the documents by metadata: `edw query`'s filters, with the documents route's row, state and run. */
export interface SearchQuery {
  /** `PATH OP VALUE` filters, all to hold (`conditions.temperature<0.02`). */
  where: string[];
  stage?: string;
  state?: DocState;
  run?: string;
  limit: number;
  cursor?: string;
}

/** A document found, with its row and state in the status table. */
export interface Found {
  doc: DataFileDoc;
  row: string;
  state: DocState;
}

/**
 * A page of the data-file documents matching the filters, in id order. The database answers the
 * filters as `edw query` does (Mango, with its indexes), without saving an answer; the row and state
 * asked for are checked on the documents themselves, read a page at a time until the page is full.
 * The cursor is the last id given: a page after it holds the documents matching then.
 */
export async function searchPage(context: RouteContext, query: SearchQuery): Promise<{documents: Found[]; next: string | null}> {
  const filters = query.where.map(parseFilter);
  if (query.stage !== undefined) await checkStage(context.store, context.steps, query.stage);
  const after = query.cursor === undefined ? undefined
    : decodeCursor<{after: string}>(query.cursor, (c) => typeof c.after === 'string' && c.row === undefined).after;
  const answer = await runPlan(context.store, planQuery(canonicalQuery({filters, runs: query.run !== undefined ? [query.run] : []})));
  const ids = after === undefined ? answer.ids : answer.ids.filter((id) => id > after);
  const now = context.now();
  const documents: Found[] = [];
  for (let i = 0; i < ids.length; i += query.limit) {
    const chunk = ids.slice(i, i + query.limit);
    for (const doc of await context.store.getMany(chunk)) {
      if (!doc || !isDataFile(doc)) continue;
      const {row, state} = docCellOf(doc, context.steps, now);
      if ((query.stage !== undefined && row !== query.stage) || (query.state !== undefined && state !== query.state)) continue;
      documents.push({doc, row, state});
      if (documents.length === query.limit) {
        const last = doc._id;
        return {documents, next: last === ids[ids.length - 1] ? null : encodeCursor({after: last})};
      }
    }
  }
  return {documents, next: null};
}
