import type {FastifyError, FastifyReply, FastifyRequest} from 'fastify';
import {AuthError, ConfigError, ConflictError, EdwError, ForbiddenError, NotFoundError, TooManyError, UnavailableError} from '../errors/index.js';
import type {Logger} from '../log/index.js';

/** Every error answer: `{error, message}`, `error` a short code (`bad_request`...), `message` one line saying what and where. */
export const ERROR_SCHEMA = {
  $id: 'Error',
  type: 'object',
  required: ['error', 'message'],
  properties: {
    error: {type: 'string', description: 'bad_request, unauthorized, forbidden, not_found, conflict, too_many_requests, unavailable or internal'},
    message: {type: 'string', description: 'one line: what went wrong, and where'},
  },
} as const;

/** The error answers a route may give, by status, for its schema. */
export function errorResponses(...statuses: number[]): Record<number, {$ref: string}> {
  return Object.fromEntries(statuses.map((status) => [status, {$ref: 'Error#'}]));
}

const CODES: Record<number, string> = {
  400: 'bad_request', 401: 'unauthorized', 403: 'forbidden', 404: 'not_found', 409: 'conflict', 429: 'too_many_requests', 503: 'unavailable',
};

/** The HTTP status an error of edw's means. */
function statusOf(error: unknown): number {
  if (error instanceof ConfigError) return 400;
  if (error instanceof AuthError) return 401;
  if (error instanceof ForbiddenError) return 403;
  if (error instanceof NotFoundError) return 404;
  if (error instanceof ConflictError) return 409;
  if (error instanceof TooManyError) return 429;
  if (error instanceof UnavailableError) return 503;
  const status = (error as FastifyError).statusCode;
  return typeof status === 'number' && status >= 400 && status < 600 ? status : 500;
}

/** Send `{error, message}` with the status it means. */
export function sendError(reply: FastifyReply, status: number, message: string): FastifyReply {
  return reply.code(status).send({error: CODES[status] ?? (status >= 500 ? 'internal' : 'bad_request'), message});
}

/**
 * Fastify's error handler: edw's errors and fastify's own (a body or query its schema refuses, a body
 * too large) become `{error, message}` with their status; anything else is a 500 whose detail goes to
 * the log only.
 */
export function errorHandler(log: Logger) {
  return (error: FastifyError, request: FastifyRequest, reply: FastifyReply): FastifyReply => {
    const status = statusOf(error);
    if (error.code?.startsWith('FST_CSRF_')) return sendError(reply, 403, 'a request made with the session cookie needs its CSRF token in the x-csrf-token header (GET /api/v1/session gives it)');
    if (error.validation) return sendError(reply, 400, `${error.validationContext ?? 'request'}${error.message.replace(/^(querystring|body|params|headers)/, '')}`);
    if (error instanceof EdwError || (status < 500 && error.statusCode)) return sendError(reply, status, error.message.split('\n')[0]!);
    log.error('request failed', {method: request.method, route: request.routeOptions.url, error: error.message, stack: error.stack});
    return sendError(reply, status, 'the server failed to answer; its log says why');
  };
}
