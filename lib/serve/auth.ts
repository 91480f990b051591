import {createHash, timingSafeEqual} from 'node:crypto';
import cookie from '@fastify/cookie';
import csrf from '@fastify/csrf-protection';
import rateLimit from '@fastify/rate-limit';
import type {FastifyInstance, FastifyReply, FastifyRequest} from 'fastify';
import type {Logger} from '../log/index.js';
import {isReader, type CouchAuth, type Credentials, type SecurityObject, type UserContext} from '../store/index.js';
import {sendError} from './http-errors.js';

/** What a route needs: nothing (`public`), a reader, or an operator (state-changing). */
export type Access = 'public' | 'read' | 'operate';

/** Who a request is, and what it may do. */
export interface Identity {
  /** How it proved it: the operator token, a Basic header, the session cookie, or nothing. */
  via: 'token' | 'basic' | 'cookie' | 'none';
  name: string | null;
  roles: string[];
  reader: boolean;
  operator: boolean;
}

declare module 'fastify' {
  interface FastifyContextConfig {
    /** What the route needs. @default 'read' */
    access?: Access;
  }
  interface FastifyRequest {
    identity?: Identity;
  }
}

export interface AuthOptions {
  /** The server's users; none for the embedded database, where reading needs no login. */
  couch?: CouchAuth;
  /** Users with this role are operators. @default 'edw-operator' */
  operatorRole?: string;
  /** The token that makes a request an operator's on every backend (`Authorization: Bearer`); none: only the role does. */
  operatorToken?: string;
  /** Failed logins (wrong password, by the login route or a Basic header) one address may make per minute; the next attempt is refused with 429. @default 9 */
  failedLoginsPerMinute?: number;
  /** How long a checked session or Basic header, and the database's `_security`, are trusted before being asked again, ms. @default 10000 */
  cacheMs?: number;
  log: Logger;
}

/** The cookie holding a user's CouchDB session (its AuthSession value). */
export const SESSION_COOKIE = 'edw_session';

const COOKIE_OPTIONS = {path: '/', httpOnly: true, sameSite: 'strict'} as const;

/** The OpenAPI security schemes. */
export const SECURITY_SCHEMES = {
  operatorToken: {type: 'http', scheme: 'bearer', description: '[serve] operator_token or EDW_OPERATOR_TOKEN: an operator on every backend'},
  basic: {type: 'http', scheme: 'basic', description: "a user of the CouchDB server, checked against its _session (CouchDB backends)"},
  session: {type: 'apiKey', in: 'cookie', name: SESSION_COOKIE, description: 'from POST /api/v1/session; state-changing requests also need the x-csrf-token header'},
} as const;

function digest(text: string): Buffer {
  return createHash('sha256').update(text).digest();
}

/** A small map of checked credentials (by digest) to who they are, each trusted for a while. */
class TrustCache<T> {
  readonly #entries = new Map<string, {value: T; untilMs: number}>();
  constructor(readonly ms: number) {}
  get(key: string): T | undefined {
    const entry = this.#entries.get(key);
    if (entry && entry.untilMs > Date.now()) return entry.value;
    this.#entries.delete(key);
    return undefined;
  }
  set(key: string, value: T): void {
    if (this.#entries.size >= 10_000) this.#entries.clear();
    this.#entries.set(key, {value, untilMs: Date.now() + this.ms});
  }
}

/**
 * Who may do what. On the embedded database, reading needs no login. On a server, a request proves
 * who it is with a Basic header or the session cookie, both checked against the server's `_session`:
 * readers are the database's `_security` members (or admins), operators the users with the operator
 * role. On every backend the operator token makes a request an operator's, and a state-changing
 * request made with the cookie needs its CSRF token. Failed logins are counted per address.
 */
export async function installAuth(app: FastifyInstance, options: AuthOptions): Promise<void> {
  const {couch, log} = options;
  const operatorRole = options.operatorRole ?? 'edw-operator';
  const token = options.operatorToken === undefined ? undefined : digest(options.operatorToken);
  const users = new TrustCache<UserContext | null>(options.cacheMs ?? 10_000);
  const securityCache = new TrustCache<SecurityObject>(options.cacheMs ?? 10_000);
  await app.register(cookie);
  await app.register(csrf, {cookieOpts: COOKIE_OPTIONS, getToken: (request) => request.headers['x-csrf-token'] as string | undefined});
  await app.register(rateLimit, {global: false});
  const failures = app.createRateLimit({max: options.failedLoginsPerMinute ?? 9, timeWindow: 60_000});

  /** Refuse with 429 when this address has used up its failed logins; else undefined. */
  const refuseIfLimited = async (request: FastifyRequest, reply: FastifyReply): Promise<FastifyReply | undefined> => {
    const limit = await failures(request, {increment: false});
    if (limit.isAllowed || limit.remaining > 0) return undefined;
    return sendError(reply.header('retry-after', String(limit.ttlInSeconds)), 429, `too many failed logins from this address: try again in ${limit.ttlInSeconds} s`);
  };
  const countFailure = async (request: FastifyRequest, name: string | null): Promise<void> => {
    await failures(request);
    log.warn('login refused', {name, ip: request.ip});
  };

  const security = async (): Promise<SecurityObject> => {
    const cached = securityCache.get('');
    if (cached) return cached;
    const fresh = await couch!.security();
    securityCache.set('', fresh);
    return fresh;
  };
  const identityOf = async (via: Identity['via'], user: UserContext): Promise<Identity> => {
    const operator = user.roles.includes(operatorRole) || user.roles.includes('_admin');
    return {via, name: user.name, roles: user.roles, reader: operator || isReader(user, await security()), operator};
  };
  /** Who a server's credentials are, asked once per cacheMs; a renewed session cookie is passed on. */
  const whoIs = async (credentials: Credentials, reply: FastifyReply): Promise<UserContext | null> => {
    const key = digest('authorization' in credentials ? `a:${credentials.authorization}` : `s:${credentials.session}`).toString('hex');
    const cached = users.get(key);
    if (cached !== undefined) return cached;
    const {user, session} = await couch!.whoIs(credentials);
    if (session && 'session' in credentials) reply.setCookie(SESSION_COOKIE, session, COOKIE_OPTIONS);
    users.set(key, user);
    return user;
  };

  const ANONYMOUS: Identity = {via: 'none', name: null, roles: [], reader: false, operator: false};

  /** The request's identity, or a reply already sent (401, 429). */
  const identify = async (request: FastifyRequest, reply: FastifyReply): Promise<Identity | FastifyReply> => {
    const authorization = request.headers.authorization ?? '';
    const bearer = /^Bearer (\S+)$/i.exec(authorization);
    if (bearer) {
      if (token && timingSafeEqual(digest(bearer[1]!), token)) return {via: 'token', name: null, roles: [], reader: true, operator: true};
      return sendError(reply, 401, token ? 'the operator token given is not this server\'s' : 'this server has no operator token ([serve] operator_token or EDW_OPERATOR_TOKEN)');
    }
    if (!couch) return {...ANONYMOUS, reader: true};
    if (/^Basic /i.test(authorization)) {
      const known = users.get(digest(`a:${authorization}`).toString('hex'));
      if (!known) {
        const limited = await refuseIfLimited(request, reply);
        if (limited) return limited;
      }
      const user = known ?? (await whoIs({authorization}, reply));
      if (user) return identityOf('basic', user);
      await countFailure(request, null);
      return sendError(reply, 401, 'name or password is incorrect');
    }
    const session = request.cookies[SESSION_COOKIE];
    if (session) {
      const user = await whoIs({session}, reply);
      if (user) return identityOf('cookie', user);
      reply.clearCookie(SESSION_COOKIE, COOKIE_OPTIONS);
      return sendError(reply, 401, 'the session has ended: log in again (POST /api/v1/session)');
    }
    return ANONYMOUS;
  };

  app.decorateRequest('identity', undefined);
  app.addHook('onRequest', async (request, reply) => {
    const access = request.routeOptions.config?.access ?? 'read';
    // Of the public routes only "who am I" needs to know who asks.
    // (An async hook continues by returning nothing; returning the reply means it was sent.)
    if (access === 'public' && !(request.method === 'GET' && request.routeOptions.url === '/api/v1/session')) return undefined;
    const identity = await identify(request, reply);
    if (!('via' in identity)) return identity;
    request.identity = identity;
    if (access === 'public') return undefined;
    const allowed = access === 'read' ? identity.reader : identity.operator;
    if (!allowed) {
      if (identity.via === 'none') {
        return sendError(reply, 401, access === 'read' ? 'log in: a Basic header or the session of POST /api/v1/session' : 'this request changes documents: it needs an operator (the operator token, or a user with the operator role)');
      }
      return sendError(reply, 403, access === 'read' ? `${identity.name} is not a member of the database` : `${identity.name ?? 'this user'} is not an operator (role ${operatorRole})`);
    }
    // A browser sends cookies on requests other sites make it send: a change made with one needs the CSRF token too.
    if (access === 'operate' && identity.via === 'cookie') {
      // The plugin's check is synchronous: it calls back when the token is right, else sends its error (http-errors.ts words it).
      let valid = false;
      app.csrfProtection(request, reply, () => {
        valid = true;
      });
      if (!valid) return reply;
    }
    return undefined;
  });

  sessionRoutes(app, {couch, refuseIfLimited, countFailure, identityOf, log});
}

interface SessionContext {
  couch: CouchAuth | undefined;
  refuseIfLimited: (request: FastifyRequest, reply: FastifyReply) => Promise<FastifyReply | undefined>;
  countFailure: (request: FastifyRequest, name: string | null) => Promise<void>;
  identityOf: (via: Identity['via'], user: UserContext) => Promise<Identity>;
  log: Logger;
}

const IDENTITY_SCHEMA = {
  type: 'object',
  properties: {
    via: {type: 'string', enum: ['token', 'basic', 'cookie', 'none']},
    name: {type: ['string', 'null']},
    roles: {type: 'array', items: {type: 'string'}},
    reader: {type: 'boolean'},
    operator: {type: 'boolean'},
    csrf_token: {type: 'string', description: 'what a state-changing request made with the session cookie sends in x-csrf-token'},
  },
} as const;

/** `POST /api/v1/session` (log in), `GET` (who am I, and the CSRF token), `DELETE` (log out). */
function sessionRoutes(app: FastifyInstance, context: SessionContext): void {
  const {couch} = context;
  app.post<{Body: {name: string; password: string}}>('/api/v1/session', {
    config: {access: 'public'},
    schema: {
      summary: "log in with a user of the CouchDB server (its _session): sets the session cookie; failed logins are limited per address",
      tags: ['session'],
      body: {type: 'object', additionalProperties: false, required: ['name', 'password'], properties: {name: {type: 'string', minLength: 1}, password: {type: 'string'}}},
      response: {200: IDENTITY_SCHEMA, 400: {$ref: 'Error#'}, 401: {$ref: 'Error#'}, 429: {$ref: 'Error#'}, 503: {$ref: 'Error#'}},
    },
  }, async (request, reply) => {
    if (!couch) return sendError(reply, 400, 'the embedded database has no users: reading needs no login, and changes need the operator token');
    const limited = await context.refuseIfLimited(request, reply);
    if (limited) return limited;
    let login: Awaited<ReturnType<CouchAuth['login']>>;
    try {
      login = await couch.login(request.body.name, request.body.password);
    } catch (error) {
      // The database server's own lockout (CouchDB 3.4+) is answered like edw's limit: 429 (http-errors.ts).
      if ((error as Error).name === 'TooManyError') context.log.warn('login refused: the database server has locked the account', {name: request.body.name, ip: request.ip});
      if ((error as Error).name !== 'AuthError') throw error;
      await context.countFailure(request, request.body.name);
      return sendError(reply, 401, 'name or password is incorrect');
    }
    reply.setCookie(SESSION_COOKIE, login.session, COOKIE_OPTIONS);
    context.log.info('logged in', {name: login.user.name, ip: request.ip});
    return {...(await context.identityOf('cookie', login.user)), csrf_token: reply.generateCsrf()};
  });

  app.get('/api/v1/session', {
    config: {access: 'public'},
    schema: {summary: 'who this request is, what it may do, and a CSRF token', tags: ['session'], response: {200: IDENTITY_SCHEMA, 401: {$ref: 'Error#'}, 429: {$ref: 'Error#'}}},
  }, async (request, reply) => ({...request.identity!, csrf_token: reply.generateCsrf()}));

  app.delete('/api/v1/session', {
    config: {access: 'public'},
    schema: {summary: 'log out: ends the session', tags: ['session'], response: {200: {type: 'object', properties: {ok: {type: 'boolean'}}}}},
  }, async (request, reply) => {
    const session = request.cookies[SESSION_COOKIE];
    if (couch && session) await couch.logout(session).catch(() => {});
    reply.clearCookie(SESSION_COOKIE, COOKIE_OPTIONS);
    return {ok: true};
  });
}
