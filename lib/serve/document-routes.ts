import type {FastifyInstance} from 'fastify';
import {NotFoundError} from '../errors/index.js';
import {checkStage, DOC_STATES, listDocuments, timelineOf, type DocState, type Listed} from '../inspect/index.js';
import {stageOf} from '../pipeline/index.js';
import type {RouteContext} from './context.js';
import {decodeCursor, encodeCursor} from './cursor.js';
import {searchPage} from './document-search.js';
import {errorResponses} from './http-errors.js';

interface DocumentsQuery {
  where?: string[];
  stage?: string;
  state?: DocState;
  run?: string;
  limit: number;
  cursor?: string;
}

/** A listed document and the row it was listed in. */
type RowListed = Listed & {row: string};

/** Where the next page of documents starts: a row, and in it after a document listed from a source. */
interface DocumentsCursor {
  row: string;
  after?: string;
  source?: string;
}

const ANY_DOC = {type: 'object', additionalProperties: true, description: 'the document as the database holds it'} as const;

const LISTED_SCHEMA = {
  type: 'object',
  required: ['id', 'row', 'state', 'stage', 'doc'],
  properties: {
    id: {type: 'string'},
    run: {type: ['string', 'null']},
    row: {type: 'string', description: 'its row in the status table'},
    state: {type: 'string', enum: DOC_STATES},
    stage: {type: 'string', description: 'its last completed step, new when none'},
    doc: ANY_DOC,
  },
} as const;

const TIMELINE_SCHEMA = {
  type: 'object',
  required: ['id', 'stage', 'row', 'state', 'entries', 'doc'],
  properties: {
    id: {type: 'string'},
    run: {type: ['string', 'null']},
    stage: {type: 'string'},
    row: {type: 'string'},
    state: {type: 'string', enum: DOC_STATES},
    entries: {
      type: 'array',
      description: 'the process history, entry by entry',
      items: {
        type: 'object',
        properties: {
          index: {type: 'integer'}, name: {type: 'string'},
          status: {type: 'string', description: 'done, failed, superseded (a re-execution kept as history) or done (seed)'},
          started: {type: ['string', 'null']}, finished: {type: ['string', 'null']}, host: {type: ['string', 'null']},
          version: {type: ['string', 'null']}, attempt: {type: 'integer'},
          superseded_by: {type: ['integer', 'null'], description: 'with superseded: the index of the completion of record'},
          error: {type: ['object', 'null'], additionalProperties: true},
          result: {description: 'what the step returned'},
        },
      },
    },
    doc: ANY_DOC,
  },
} as const;

/** Documents of the rows in order: one row (`stage`) or every row, from the cursor on, at most `limit`. */
async function documentsPage(context: RouteContext, query: DocumentsQuery): Promise<{documents: RowListed[]; next: string | null}> {
  const {store, steps} = context;
  if (query.stage !== undefined) await checkStage(store, steps, query.stage);
  const rows = query.stage !== undefined ? [query.stage] : ['new', ...steps];
  const cursor: DocumentsCursor = query.cursor === undefined ? {row: rows[0]!}
    : decodeCursor<DocumentsCursor>(query.cursor, (c) => typeof c.row === 'string' && rows.includes(c.row)
      && (c.after === undefined ? c.source === undefined : typeof c.after === 'string' && typeof c.source === 'string'));
  const now = context.now();
  const documents: RowListed[] = [];
  const list = (row: string, limit: number, after?: {after: string; afterSource: string}): ReturnType<typeof listDocuments> =>
    listDocuments(store, {stage: row, steps, limit, now, ...(query.state ? {state: query.state} : {}), ...(query.run !== undefined ? {run: query.run} : {}), ...after},
      (page) => void documents.push(...page.map((listed) => ({...listed, row}))));
  const first = rows.indexOf(cursor.row);
  for (let i = first; i < rows.length; i++) {
    const room = query.limit - documents.length;
    if (room === 0) {
      // The page is full at a row's end: the next one starts at the next row holding any such document.
      const held = documents.length;
      for (let j = i; j < rows.length; j++) {
        await list(rows[j]!, 1);
        if (documents.length > held) return {documents: documents.slice(0, held), next: encodeCursor({row: rows[j]})};
      }
      break;
    }
    const end = await list(rows[i]!, room, i === first && cursor.after !== undefined ? {after: cursor.after, afterSource: cursor.source!} : undefined);
    if (end.next !== undefined) return {documents, next: encodeCursor({row: rows[i], after: end.next, source: end.nextSource})};
  }
  return {documents, next: null};
}

/** `GET /api/v1/documents` (by row, state, run, metadata filters; paged) and `GET /api/v1/documents/:id` (with its timeline). */
export function documentRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get<{Querystring: DocumentsQuery}>('/api/v1/documents', {
    schema: {
      summary: 'data-file documents of a row of the status table (or of every row), in one state, of one run, matching metadata filters; a page at a time',
      tags: ['documents'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        properties: {
          where: {
            type: 'array', maxItems: 20, items: {type: 'string', minLength: 1},
            description: "filters PATH OP VALUE as edw query takes them, all to hold (repeat: where=conditions.temperature<0.02&where=facility=tunka); OP one of = != < <= > >= in contains. With where, documents come in id order",
          },
          stage: {type: 'string', minLength: 1, description: 'a row: new or a step (as edw list --stage); every row in chain order when absent'},
          state: {type: 'string', enum: DOC_STATES, description: 'only documents in this state (failed, retrying, ...)'},
          run: {type: 'string', minLength: 1, description: 'only this run'},
          limit: {type: 'integer', minimum: 1, maximum: 1000, default: 100},
          cursor: {type: 'string', minLength: 1, description: "the previous page's next: the page after it, even if its documents moved since"},
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['documents', 'next'],
          properties: {documents: {type: 'array', items: LISTED_SCHEMA}, next: {type: ['string', 'null'], description: 'cursor of the next page; null on the last'}},
        },
        ...errorResponses(400, 503),
      },
    },
  }, async (request) => {
    const {where, ...query} = request.query;
    const {documents, next} = where?.length ? await searchPage(context, {...query, where}) : await documentsPage(context, query);
    return {documents: documents.map(({doc, state, row}) => ({id: doc._id, run: doc.run ?? null, row, state, stage: stageOf(doc), doc})), next};
  });

  app.get<{Params: {id: string}}>('/api/v1/documents/:id', {
    schema: {
      summary: 'a data-file document with its process timeline, as edw show',
      tags: ['documents'],
      params: {type: 'object', required: ['id'], properties: {id: {type: 'string', minLength: 1}}},
      response: {200: TIMELINE_SCHEMA, ...errorResponses(404, 503)},
    },
  }, async (request) => {
    const timeline = timelineOf(await context.store.get(request.params.id), context.steps, context.now());
    if (!timeline) throw new NotFoundError(`no data-file document ${request.params.id}`);
    return timeline;
  });
}
