import {AuthError, TooManyError, UnavailableError} from '../errors/index.js';
import {parseDatabaseUrl} from './couch-store.js';

/** Who the server says a request is: CouchDB's `userCtx`. */
export interface UserContext {
  name: string;
  roles: string[];
}

/** A database's `_security` object: who administers it and who may read it. */
export interface SecurityObject {
  admins: {names: string[]; roles: string[]};
  members: {names: string[]; roles: string[]};
}

export interface CouchAuthOptions {
  /** The database URL (`http://host:5984/edw`), credentials in it or in `user`/`password`. */
  url: string;
  user?: string;
  password?: string;
  /** How long one request to the server may take. @default 10000 */
  requestTimeoutMs?: number;
}

/** A user's credentials as a request to edw brought them: a Basic `Authorization` header, or a CouchDB session cookie's value. */
export type Credentials = {authorization: string} | {session: string};

/** The value of `AuthSession` in a response's Set-Cookie, if it sets one. */
function sessionCookie(response: Response): string | undefined {
  for (const line of response.headers.getSetCookie()) {
    const match = /^AuthSession=([^;]*)/.exec(line);
    if (match) return match[1];
  }
  return undefined;
}

/** What edw says when CouchDB (3.4+, [chttpd_auth_lockout]) has locked a user after repeated failed logins. */
export const LOCKED_MESSAGE = 'the database server has locked this account for a while after repeated wrong passwords: try again in a few minutes';

/** CouchDB's lockout answer: 403 with a reason saying the account is locked. */
function isLockout(status: number, body: {reason?: unknown}): boolean {
  return status === 403 && typeof body.reason === 'string' && /locked/i.test(body.reason);
}

function names(value: unknown): string[] {
  return Array.isArray(value) ? value.filter((v): v is string => typeof v === 'string') : [];
}

/**
 * Users and roles of a CouchDB (or pouchdb-server): logging in through its `_session`, asking it who
 * a request's credentials belong to, and reading the database's `_security` with edw's own
 * credentials. No credential or cookie value is ever put in an error message.
 */
export class CouchAuth {
  readonly #server: string;
  readonly #db: string;
  readonly #authorization: string | undefined;
  readonly #timeoutMs: number;
  /** Where the server is, without credentials: safe to print. */
  readonly location: string;

  constructor(options: CouchAuthOptions) {
    const parsed = parseDatabaseUrl(options.url);
    this.#server = parsed.server;
    this.#db = parsed.db;
    this.location = parsed.location;
    const user = options.user ?? parsed.user;
    const password = options.password ?? parsed.password;
    this.#authorization = user !== undefined ? `Basic ${Buffer.from(`${user}:${password ?? ''}`).toString('base64')}` : undefined;
    this.#timeoutMs = options.requestTimeoutMs ?? 10_000;
  }

  async #fetch(path: string, init: RequestInit): Promise<Response> {
    try {
      return await fetch(new URL(path, this.#server), {...init, redirect: 'manual', signal: AbortSignal.timeout(this.#timeoutMs)});
    } catch (error) {
      throw new UnavailableError(`the database server at ${this.#server} cannot be reached to check a login`, {cause: error});
    }
  }

  /**
   * Log in with a name and password (`POST _session`): the session cookie's value and who it is. A
   * wrong pair is an AuthError; an account the server has locked after failed logins a TooManyError.
   */
  async login(name: string, password: string): Promise<{session: string; user: UserContext}> {
    const response = await this.#fetch('_session', {method: 'POST', headers: {'content-type': 'application/json', accept: 'application/json'}, body: JSON.stringify({name, password})});
    const body = (await response.json().catch(() => ({}))) as {ok?: boolean; name?: string; roles?: unknown; reason?: unknown};
    if (response.status === 401) throw new AuthError('name or password is incorrect');
    if (isLockout(response.status, body)) throw new TooManyError(LOCKED_MESSAGE);
    const session = sessionCookie(response);
    if (!response.ok || !session) throw new UnavailableError(`the database server at ${this.#server} answered a login with HTTP ${response.status}`);
    return {session, user: {name: typeof body.name === 'string' ? body.name : name, roles: names(body.roles)}};
  }

  /**
   * Who these credentials are (`GET _session` with them): null for wrong ones, an ended session or a
   * malformed cookie (CouchDB answers that one 400). A locked account is a TooManyError.
   * `session` is a renewed cookie value when the server sent one (CouchDB renews a session as it nears its end).
   */
  async whoIs(credentials: Credentials): Promise<{user: UserContext | null; session?: string}> {
    const headers: Record<string, string> = {accept: 'application/json'};
    if ('authorization' in credentials) headers.authorization = credentials.authorization;
    else headers.cookie = `AuthSession=${credentials.session}`;
    const response = await this.#fetch('_session', {headers});
    if (response.status === 401 || (response.status === 400 && 'session' in credentials)) return {user: null};
    if (response.status === 403 && isLockout(403, (await response.json().catch(() => ({}))) as {reason?: unknown})) throw new TooManyError(LOCKED_MESSAGE);
    if (!response.ok) throw new UnavailableError(`the database server at ${this.#server} answered a session check with HTTP ${response.status}`);
    const body = (await response.json()) as {userCtx?: {name?: unknown; roles?: unknown}};
    const name = body.userCtx?.name;
    const renewed = sessionCookie(response);
    return {user: typeof name === 'string' ? {name, roles: names(body.userCtx?.roles)} : null, ...(renewed ? {session: renewed} : {})};
  }

  /** End a session (`DELETE _session`); an ended one is fine. */
  async logout(session: string): Promise<void> {
    await this.#fetch('_session', {method: 'DELETE', headers: {cookie: `AuthSession=${session}`, accept: 'application/json'}});
  }

  /** The database's `_security`, read with edw's own credentials. */
  async security(): Promise<SecurityObject> {
    const response = await this.#fetch(`${encodeURIComponent(this.#db)}/_security`, {headers: {accept: 'application/json', ...(this.#authorization ? {authorization: this.#authorization} : {})}});
    if (response.status === 401 || response.status === 403) throw new AuthError(`edw's database user may not read ${this.location}/_security (it must be a member or an admin of the database)`);
    if (!response.ok) throw new UnavailableError(`the database server answered ${this.location}/_security with HTTP ${response.status}`);
    const body = (await response.json()) as {admins?: {names?: unknown; roles?: unknown}; members?: {names?: unknown; roles?: unknown}};
    return {
      admins: {names: names(body.admins?.names), roles: names(body.admins?.roles)},
      members: {names: names(body.members?.names), roles: names(body.members?.roles)},
    };
  }
}

/**
 * Whether a user may read the database, by CouchDB's rule: a server admin (`_admin`), a database admin
 * or member by name or role; a database with no members named is readable by every user.
 */
export function isReader(user: UserContext, security: SecurityObject): boolean {
  const {admins, members} = security;
  const listed = (group: {names: string[]; roles: string[]}): boolean => group.names.includes(user.name) || user.roles.some((r) => group.roles.includes(r));
  if (user.roles.includes('_admin') || listed(admins)) return true;
  return (members.names.length === 0 && members.roles.length === 0) || listed(members);
}
