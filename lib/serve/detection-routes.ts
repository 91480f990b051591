import type {FastifyInstance} from 'fastify';
import {ConfigError} from '../errors/index.js';
import {detectionCounts, detectionsPage, type DetectionFilter, type DetectionPosition} from '../inspect/index.js';
import {parseTime} from '../query/index.js';
import type {RouteContext} from './context.js';
import {decodeCursor, encodeCursor} from './cursor.js';
import {errorResponses} from './http-errors.js';

interface RangeQuery {
  from: string;
  to: string;
  run?: string;
  min_amplitude?: number;
  max_amplitude?: number;
}

const RANGE_PROPERTIES = {
  from: {type: 'string', minLength: 1, description: 'start of the range, included: epoch seconds or ISO 8601'},
  to: {type: 'string', minLength: 1, description: 'end of the range, included: epoch seconds or ISO 8601'},
  run: {type: 'string', minLength: 1, description: 'only this run'},
  min_amplitude: {type: 'number', description: 'only detections of at least this amplitude'},
  max_amplitude: {type: 'number', description: 'only detections of at most this amplitude'},
} as const;

/** The time range (epoch seconds) and filter of a query, checked. */
function rangeOf(query: RangeQuery): {from: number; to: number} & DetectionFilter {
  const from = parseTime(query.from, 'from');
  const to = parseTime(query.to, 'to');
  if (to < from) throw new ConfigError(`to ${query.to} is before from ${query.from}`);
  return {
    from, to,
    ...(query.run !== undefined ? {runs: [query.run]} : {}),
    ...(query.min_amplitude !== undefined ? {minAmplitude: query.min_amplitude} : {}),
    ...(query.max_amplitude !== undefined ? {maxAmplitude: query.max_amplitude} : {}),
  };
}

/** `GET /api/v1/detections` (a page of detection documents) and `GET /api/v1/detections/counts` (per time bin). */
export function detectionRoutes(app: FastifyInstance, context: RouteContext): void {
  app.get<{Querystring: RangeQuery & {limit: number; cursor?: string}}>('/api/v1/detections', {
    schema: {
      summary: 'detection documents in a time range, in time order, as edw detections; a page at a time',
      tags: ['detections'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {
          ...RANGE_PROPERTIES,
          limit: {type: 'integer', minimum: 1, maximum: 5000, default: 500},
          cursor: {type: 'string', minLength: 1, description: "the previous page's next"},
        },
      },
      response: {
        200: {
          type: 'object',
          required: ['detections', 'next'],
          properties: {
            detections: {type: 'array', items: {type: 'object', additionalProperties: true}},
            next: {type: ['string', 'null'], description: 'cursor of the next page; null on the last'},
          },
        },
        ...errorResponses(400, 503),
      },
    },
  }, async (request) => {
    const {limit, cursor} = request.query;
    const after = cursor === undefined ? undefined
      : decodeCursor<DetectionPosition>(cursor, (c) => typeof c.time === 'number' && Number.isInteger(c.seen) && (c.seen as number) >= 0);
    const page = await detectionsPage(context.store, {...rangeOf(request.query), limit, ...(after ? {after} : {})});
    return {detections: page.detections, next: page.next ? encodeCursor({time: page.next.time, seen: page.next.seen}) : null};
  });

  app.get<{Querystring: RangeQuery & {bin: number}}>('/api/v1/detections/counts', {
    schema: {
      summary: 'detections per time bin over a range (a histogram: per hour with bin=3600)',
      tags: ['detections'],
      querystring: {
        type: 'object',
        additionalProperties: false,
        required: ['from', 'to'],
        properties: {...RANGE_PROPERTIES, bin: {type: 'number', exclusiveMinimum: 0, default: 3600, description: 'width of a bin, seconds'}},
      },
      response: {
        200: {
          type: 'object',
          required: ['from', 'to', 'bin', 'counts'],
          properties: {
            from: {type: 'number', description: 'epoch seconds'},
            to: {type: 'number'},
            bin: {type: 'number'},
            counts: {type: 'array', items: {type: 'integer'}, description: 'bin i: from + i*bin <= time < from + (i+1)*bin (the last also holds to)'},
          },
        },
        ...errorResponses(400, 503),
      },
    },
  }, async (request) => {
    const range = rangeOf(request.query);
    const counts = await detectionCounts(context.store, {...range, binS: request.query.bin});
    return {from: range.from, to: range.to, bin: request.query.bin, counts};
  });
}
