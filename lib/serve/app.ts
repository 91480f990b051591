import swagger from '@fastify/swagger';
import Fastify, {type FastifyInstance, type FastifyRequest} from 'fastify';
import type {Logger} from '../log/index.js';
import {Registry, registerDatabaseMetrics, registerHttpMetrics} from '../metrics/index.js';
import type {CouchAuth, Store} from '../store/index.js';
import type {ChainLink, RouteContext} from './context.js';
import {completionRoutes} from './completion-routes.js';
import {documentRoutes} from './document-routes.js';
import {eventRoutes} from './event-routes.js';
import {detectionRoutes} from './detection-routes.js';
import {ERROR_SCHEMA, errorHandler, sendError} from './http-errors.js';
import {listenerRoutes} from './listener-routes.js';
import {installAuth, SECURITY_SCHEMES} from './auth.js';
import {RateTracker} from './rates.js';
import {retryRoutes} from './retry-routes.js';
import {sharedReading, statusRoutes, statusWithRates} from './status-routes.js';
import {webRoutes} from './web-routes.js';

export interface AppOptions {
  store: Store;
  /** The chain's steps in order, each with the stage it follows. */
  chain: readonly ChainLink[];
  log: Logger;
  /** The token that makes a request an operator's, on every backend (`Authorization: Bearer`). */
  operatorToken?: string;
  /** The server's users and roles (a CouchDB backend); none: the embedded database, where reading needs no login. */
  couchAuth?: CouchAuth;
  /** Users with this role are operators (with couchAuth). @default 'edw-operator' */
  operatorRole?: string;
  /**
   * The reverse proxies whose `X-Forwarded-For` names the client (fastify's trustProxy): addresses,
   * CIDRs and range names (`loopback`). The client's address is what failed logins are
   * counted by. @default none: the connection's address, the header ignored
   */
  trustProxy?: string[];
  /** Failed logins one address may make per minute. @default 9 */
  failedLoginsPerMinute?: number;
  /** `/api/v1/listeners` leaves out listeners stopped or silent for longer than this. @default 7 days */
  forgetAfterMs?: number;
  /** Least time between two `status` events of `/api/v1/events`, ms. @default 1000 */
  statusEveryMs?: number;
  /**
   * Where the counts are kept from the feed (embedded, pouchdb-server): changes a status reading reads
   * past the kept counts at most (4,000: about 0.3 s embedded); further behind (a new server on counts
   * kept long ago) it answers from them with `fresh` and leaves the rest to the counts keeper. @default 4000
   */
  statusMaxChanges?: number;
  /** How far back `/api/v1/status`'s rates look. @default 60000 */
  rateWindowMs?: number;
  /** edw's version, for the OpenAPI document. @default '0' */
  version?: string;
  /** The clock, epoch ms. @default Date.now */
  now?: () => number;
}

/** Every route of an app createApp made: method and URL pattern (HEAD routes left out). */
const ROUTES = new WeakMap<FastifyInstance, Array<{method: string; url: string}>>();

/** The routes of an app createApp made, each as its method and URL pattern (`/api/v1/documents/:id`). */
export function routesOf(app: FastifyInstance): Array<{method: string; url: string}> {
  return [...(ROUTES.get(app) ?? [])];
}

/** The path of the OpenAPI description of `/api/v1`, generated from the routes' schemas. */
export const OPENAPI_PATH = '/api/v1/openapi.json';

/** The path of the Prometheus metrics. */
export const METRICS_PATH = '/metrics';

/**
 * The HTTP API as a fastify instance, not yet listening: `/api/v1/...` over `store`, each route's
 * query, body and answer described by a JSON schema that fastify checks and the OpenAPI document is
 * made from. Closing it does not close the store.
 */
export async function createApp(options: AppOptions): Promise<FastifyInstance> {
  // Unknown query parameters and body fields are refused (400), not silently dropped.
  const app = Fastify({logger: false, trustProxy: options.trustProxy ?? false, ajv: {customOptions: {removeAdditional: false, coerceTypes: 'array'}}, bodyLimit: 1 << 20});
  const steps = options.chain.map((s) => s.name);
  const base = {
    store: options.store,
    chain: options.chain,
    steps,
    rates: new RateTracker({steps, ...(options.rateWindowMs !== undefined ? {windowMs: options.rateWindowMs} : {})}),
    forgetAfterMs: options.forgetAfterMs ?? 7 * 86_400_000,
    now: options.now ?? Date.now,
    statusMaxChanges: options.statusMaxChanges ?? 4000,
  };
  const context: RouteContext = {...base, status: sharedReading(() => statusWithRates(base))};
  const routes: Array<{method: string; url: string}> = [];
  ROUTES.set(app, routes);
  app.addHook('onRoute', (route) => {
    for (const method of [route.method].flat()) if (method !== 'HEAD') routes.push({method, url: route.url});
  });
  app.addSchema(ERROR_SCHEMA);
  await app.register(swagger, {
    openapi: {
      openapi: '3.1.0',
      info: {title: 'edw', version: options.version ?? '0', description: 'The HTTP API of edw serve. /api/v1 stays compatible; a breaking change would be /api/v2.'},
      components: {securitySchemes: SECURITY_SCHEMES},
    },
    refResolver: {buildLocalReference: (json) => String(json.$id)},
  });
  app.setErrorHandler(errorHandler(options.log));
  await installAuth(app, {
    log: options.log,
    ...(options.couchAuth ? {couch: options.couchAuth} : {}),
    ...(options.operatorToken !== undefined ? {operatorToken: options.operatorToken} : {}),
    ...(options.operatorRole !== undefined ? {operatorRole: options.operatorRole} : {}),
    ...(options.failedLoginsPerMinute !== undefined ? {failedLoginsPerMinute: options.failedLoginsPerMinute} : {}),
  });
  app.setNotFoundHandler((request, reply) => sendError(reply, 404, `no route ${request.method} ${request.url.split('?')[0]}`));
  const registry = new Registry();
  registerDatabaseMetrics(registry, {store: options.store, steps, forgetAfterMs: context.forgetAfterMs, now: context.now});
  const http = registerHttpMetrics(registry);
  // One line per request at verbose, and its metrics: the route's pattern, never its query, headers or cookies.
  const requestEnded = (request: FastifyRequest, status: number, seconds: number): void => {
    const route = request.routeOptions.url ?? '(none)';
    http.observe({method: request.method, route, status, seconds});
    options.log.verbose('request', {method: request.method, route, status, ms: Math.round(seconds * 1000)});
  };
  app.addHook('onResponse', async (request, reply) => requestEnded(request, reply.statusCode, reply.elapsedTime / 1000));
  statusRoutes(app, context);
  documentRoutes(app, context);
  completionRoutes(app, context);
  detectionRoutes(app, context);
  listenerRoutes(app, context);
  retryRoutes(app, context);
  eventRoutes(app, context, {log: options.log, ended: requestEnded, ...(options.statusEveryMs !== undefined ? {statusEveryMs: options.statusEveryMs} : {})});
  webRoutes(app);
  // Prometheus' text format, for readers (a scraper on a server database logs in with Basic auth).
  app.get(METRICS_PATH, {schema: {hide: true}}, async (_request, reply) => reply.type(registry.contentType).send(await registry.metrics()));
  app.get(OPENAPI_PATH, {config: {access: 'public'}, schema: {hide: true}}, async () => app.swagger());
  await app.ready();
  return app;
}
