import type {FastifyInstance} from 'fastify';
import {listListeners} from '../inspect/index.js';
import type {RouteContext} from './context.js';
import {errorResponses} from './http-errors.js';

/** `GET /api/v1/listeners`: the listener processes' heartbeats, as `edw listeners --json` (forgotten ones left out, not deleted). */
export function listenerRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get('/api/v1/listeners', {
    schema: {
      summary: 'every listener process that wrote a heartbeat, newest beat first, each alive, stale or stopped',
      tags: ['listeners'],
      response: {
        200: {
          type: 'object',
          required: ['listeners'],
          properties: {
            listeners: {
              type: 'array',
              items: {
                type: 'object',
                additionalProperties: true,
                properties: {
                  owner: {type: 'string'}, host: {type: 'string'}, pid: {type: 'integer'}, state: {type: 'string', enum: ['alive', 'stale', 'stopped']},
                  beat: {type: 'string'}, completed: {type: 'integer'}, failed: {type: 'integer'},
                  listeners: {type: 'array', items: {type: 'object', additionalProperties: true}, description: "the process's steps: feed position, running, queued, last progress"},
                },
              },
            },
          },
        },
        ...errorResponses(503),
      },
    },
  }, async () => {
    // A GET changes nothing: listeners past [listen] forget_after are left out, and only edw listeners deletes them.
    const {listeners} = await listListeners(context.store, {now: context.now(), forgetAfterMs: context.forgetAfterMs, deleteForgotten: false});
    return {listeners};
  });
}
