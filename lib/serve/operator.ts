import {createHash, timingSafeEqual} from 'node:crypto';
import type {FastifyReply, FastifyRequest} from 'fastify';
import {sendError} from './http-errors.js';

/** The OpenAPI security scheme of state-changing routes. */
export const OPERATOR_SECURITY = {operatorToken: {type: 'http', scheme: 'bearer', description: '[serve] operator_token or EDW_OPERATOR_TOKEN'}} as const;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/**
 * A preHandler admitting only requests that carry the operator token (`Authorization: Bearer TOKEN`),
 * compared in constant time. With no token configured, every such request is refused.
 */
export function requireOperator(token: string | undefined) {
  const expected = token === undefined ? undefined : digest(token);
  return async (request: FastifyRequest, reply: FastifyReply): Promise<void> => {
    if (!expected) {
      await sendError(reply, 401, 'state-changing requests need an operator token, and this server has none ([serve] operator_token or EDW_OPERATOR_TOKEN)');
      return;
    }
    const match = /^Bearer (\S+)$/i.exec(request.headers.authorization ?? '');
    if (!match || !timingSafeEqual(digest(match[1]!), expected)) {
      await sendError(reply, 401, 'this request changes documents: it needs the operator token (Authorization: Bearer TOKEN)');
    }
  };
}
