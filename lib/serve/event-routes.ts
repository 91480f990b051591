import type {ServerResponse} from 'node:http';
import type {FastifyInstance, FastifyRequest} from 'fastify';
import type {Logger} from '../log/index.js';
import type {RouteContext} from './context.js';
import {LiveFeed} from './live.js';

export interface EventRoutesOptions {
  log: Logger;
  /** Least time between two status events, ms. @default 1000 */
  statusEveryMs?: number;
  /** Time between two keep-alive comments on an open stream, ms. @default 15000 */
  pingMs?: number;
  /**
   * Called when a stream ends (the client went, or the server closed), with its status and how long it
   * was open: fastify's onResponse hook does not run for a reply the route took over (`hijack`), so
   * the app's request metrics count the streams through this. @default none
   */
  ended?: (request: FastifyRequest, status: number, seconds: number) => void;
}

/**
 * `GET /api/v1/events`: server-sent events from the database's changes feed (`change` with the ids
 * of a page of changes, `status` as `GET /api/v1/status` answers, at most once a second). The
 * streams end when the server closes.
 */
export function eventRoutes(app: FastifyInstance, context: RouteContext, options: EventRoutesOptions): void {
  const live = new LiveFeed({store: context.store, log: options.log, status: context.status, ...(options.statusEveryMs !== undefined ? {statusEveryMs: options.statusEveryMs} : {})});
  const open = new Set<ServerResponse>();
  app.addHook('preClose', async () => {
    for (const response of open) response.end();
    await live.close();
  });
  app.get('/api/v1/events', {
    schema: {
      summary: 'server-sent events: change (the ids of documents that changed) and status (as GET /api/v1/status), live from the changes feed',
      tags: ['status'],
      response: {200: {description: 'an event stream (text/event-stream), open until either side ends it', content: {'text/event-stream': {schema: {type: 'string'}}}}},
    },
  }, (request, reply) => {
    reply.hijack();
    const opened = performance.now();
    const response = reply.raw;
    response.writeHead(200, {'content-type': 'text/event-stream', 'cache-control': 'no-cache', connection: 'keep-alive', 'x-accel-buffering': 'no'});
    response.write(': edw events\n\n');
    open.add(response);
    const unsubscribe = live.subscribe((event, data) => response.write(`event: ${event}\ndata: ${JSON.stringify(data)}\n\n`));
    const ping = setInterval(() => response.write(': ping\n\n'), options.pingMs ?? 15_000);
    request.raw.on('close', () => {
      clearInterval(ping);
      open.delete(response);
      unsubscribe();
      options.ended?.(request, response.statusCode, (performance.now() - opened) / 1000);
    });
  });
}
