import type {FastifyInstance} from 'fastify';
import {DOC_STATES, statusCounts} from '../inspect/index.js';
import type {RouteContext, StatusWithRates} from './context.js';
import {errorResponses} from './http-errors.js';

const COUNTS = {type: 'object', additionalProperties: {type: 'integer'}} as const;

const STATUS_SCHEMA = {
  type: 'object',
  required: ['total', 'stages', 'failed', 'in_progress', 'bad', 'rows', 'conflicted', 'rates'],
  properties: {
    total: {type: 'integer', description: 'data-file documents'},
    stages: {...COUNTS, description: 'documents per stage they stand at (their last completed step)'},
    failed: {...COUNTS, description: 'documents failed for good, per step'},
    in_progress: {...COUNTS, description: 'documents a listener holds a live claim on, per step'},
    bad: {type: 'integer', description: 'documents whose status is not "good"'},
    rows: {
      type: 'object',
      description: 'the status table: per row (new and each step), documents per state',
      additionalProperties: {type: 'object', properties: Object.fromEntries(DOC_STATES.map((s) => [s, {type: 'integer'}]))},
    },
    conflicted: {type: 'integer', description: 'documents with replication conflicts now'},
    fresh: {
      type: 'object',
      description: 'only when the answer is not exact: edw serve started on a database whose kept counts are far behind the feed, and answers from them while it catches up (a few seconds to a minute at 100,000 documents)',
      required: ['exact', 'counts_as_of', 'conflicted_exact'],
      properties: {
        exact: {type: 'boolean', const: false},
        counts_as_of: {type: ['string', 'null'], format: 'date-time', description: 'the counts are exact as of at least this time; null: exact now'},
        conflicted_exact: {type: 'boolean', description: 'false: conflicted counts the conflicts found so far'},
      },
    },
    rates: {
      type: 'object',
      description: "documents per second over the last minute of this server's readings: registered, and completed per step (null before a second reading)",
      properties: {
        window_s: {type: ['number', 'null']},
        per_s: {type: 'object', additionalProperties: {type: ['number', 'null']}},
      },
    },
  },
} as const;

/** What `edw status --json` prints, plus rates (`GET /api/v1/status`, and the `status` events). */
export async function statusWithRates(context: Omit<RouteContext, 'status'>): Promise<StatusWithRates> {
  const now = context.now();
  const status = await statusCounts(context.store, [...context.steps], now, {maxChanges: context.statusMaxChanges});
  return {...status, rates: status.fresh ? context.rates.none() : context.rates.add(status, now)};
}

/**
 * `read`, one call at a time: a call made while one is under way gets that one's result. On a
 * database without stored reductions a status reading reads the feed since the saved counts; 50
 * clients asking at once each read it, sharing the CPU (at 100,000 documents, p50 10.7 s).
 */
export function sharedReading<T>(read: () => Promise<T>): () => Promise<T> {
  let running: Promise<T> | undefined;
  return () => {
    running ??= read().finally(() => {
      running = undefined;
    });
    return running;
  };
}

/** `GET /api/v1/status`: what `edw status --json` prints, plus rates. */
export function statusRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get('/api/v1/status', {
    schema: {
      summary: 'documents per stage, row and state, as edw status --json, plus rates',
      tags: ['status'],
      response: {200: STATUS_SCHEMA, ...errorResponses(503)},
    },
  }, () => context.status());
}
