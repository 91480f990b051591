import type {FastifyInstance} from 'fastify';
import {ConfigError} from '../errors/index.js';
import {failedAt, retryDocuments} from '../inspect/index.js';
import type {RouteContext} from './context.js';
import {errorResponses} from './http-errors.js';

interface RetryBody {
  ids?: string[];
  step?: string;
}

/** `POST /api/v1/retry`: make documents that failed for good runnable again, as `edw retry` (operators only). */
export function retryRoutes(app: FastifyInstance, context: RouteContext): void {
  app.post<{Body: RetryBody}>('/api/v1/retry', {
    config: {access: 'operate'},
    schema: {
      summary: 'retry documents that failed for good: by id, or every one failed at a step (edw retry)',
      tags: ['operators'],
      security: [{operatorToken: []}, {basic: []}, {session: []}],
      body: {
        type: 'object',
        additionalProperties: false,
        minProperties: 1,
        properties: {
          ids: {type: 'array', minItems: 1, maxItems: 1000, items: {type: 'string', minLength: 1}, description: 'document ids'},
          step: {type: 'string', minLength: 1, description: 'every document failed at this step'},
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['retried', 'outcomes'],
          properties: {
            retried: {type: 'integer', description: 'documents made runnable again'},
            outcomes: {
              type: 'array',
              description: "each document's outcome, in order: retried, not-failed (left as it was) or not-found",
              items: {type: 'object', properties: {id: {type: 'string'}, verdict: {type: 'string', enum: ['retried', 'not-failed', 'not-found']}}},
            },
          },
        },
        ...errorResponses(400, 401, 403, 429, 503),
      },
    },
  }, async (request) => {
    const {ids = [], step: name} = request.body;
    const step = name === undefined ? undefined : context.chain.find((s) => s.name === name);
    if (name !== undefined && !step) throw new ConfigError(`unknown step ${name} (steps: ${context.steps.join(', ')})`);
    const targets = [...new Set([...ids, ...(step ? await failedAt(context.store, step.name, step.after) : [])])];
    const outcomes = await retryDocuments(context.store, targets);
    return {retried: outcomes.filter((o) => o.verdict === 'retried').length, outcomes};
  });
}
