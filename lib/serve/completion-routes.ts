import type {FastifyInstance} from 'fastify';
import {ConfigError} from '../errors/index.js';
import {COMPLETION_BINS, completionCounts, MAX_COMPLETION_BINS, type CompletionBin} from '../provenance/index.js';
import {parseTime} from '../query/index.js';
import type {RouteContext} from './context.js';
import {errorResponses} from './http-errors.js';

interface CompletionsQuery {
  step?: string;
  from: string;
  to?: string;
  bin: CompletionBin;
}

/** `GET /api/v1/completions`: completions per step and hour or minute, the history of the page's plot. */
export function completionRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get<{Querystring: CompletionsQuery}>('/api/v1/completions', {
    schema: {
      summary: 'completions of each step (or of one) per hour or per minute over a time range, from the provenance completions view',
      tags: ['status'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        required: ['from'],
        properties: {
          step: {type: 'string', minLength: 1, description: 'only this step; every step of the chain when absent'},
          from: {type: 'string', minLength: 1, description: 'start, included: epoch seconds or ISO 8601 (rounded down to the bin)'},
          to: {type: 'string', minLength: 1, description: 'end, included: epoch seconds or ISO 8601; now when absent'},
          bin: {type: 'string', enum: Object.keys(COMPLETION_BINS), default: 'hour', description: `hour or minute (UTC); at most ${MAX_COMPLETION_BINS} bins`},
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['from', 'to', 'bin', 'steps'],
          properties: {
            from: {type: 'number', description: 'epoch seconds: the start of the first bin'},
            to: {type: 'number'},
            bin: {type: 'number', description: 'seconds: 3600 or 60'},
            steps: {
              type: 'object', additionalProperties: {type: 'array', items: {type: 'integer'}},
              description: 'per step, bin i: completions (entries done, re-executions too) finished in [from + i*bin, from + (i+1)*bin)',
            },
          },
        },
        ...errorResponses(400, 404, 503),
      },
    },
  }, async (request) => {
    const {step, bin} = request.query;
    if (step !== undefined && !context.steps.includes(step)) throw new ConfigError(`unknown step ${step} (steps: ${context.steps.join(', ')})`);
    const to = request.query.to === undefined ? Math.floor(context.now() / 1000) : parseTime(request.query.to, 'to');
    return completionCounts(context.store, step === undefined ? context.steps : [step], parseTime(request.query.from, 'from'), to, bin);
  });
}
