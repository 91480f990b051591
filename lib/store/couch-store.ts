import Nano from 'nano';
import {AuthError, ConflictError, ConfigError, EdwError, ForbiddenError, NotFoundError, UnavailableError} from '../errors/index.js';
import {DeadlineError, manyListeners, withDeadline} from './deadline.js';
import {viewQuery} from './view-query.js';
import {putLocalDoc} from './local-docs.js';
import type {ChangesPage, ChangesParams, Doc, FindParams, FindPlan, FindResult, GetOptions, IndexSpec, Store, StoreInfo, ViewParams, ViewResult, WriteOutcome} from './types.js';
import {findPlan, findRequest, indexRequest} from './find-request.js';

export interface CouchStoreOptions {
  /** URL of the database itself, e.g. `http://host:5984/edw`. Credentials in it are moved to a header. */
  url: string;
  /** User name; overrides one given in the URL. */
  user?: string;
  /** Password; never printed. */
  password?: string;
  /**
   * How long a request may take beyond its own long-poll wait before it is abandoned, in ms. A feed
   * connection that stays open and silent after a server restart is cut by this.
   * @default 60000
   */
  requestTimeoutMs?: number;
  /**
   * How long past its wait a long-poll may stay unanswered before it counts as an empty page. Some
   * servers (pouchdb-server) ignore `timeout` and hold an idle long-poll until a change comes.
   * @default 2000
   */
  longPollGraceMs?: number;
}

interface RequestSpec {
  method?: 'get' | 'put' | 'post' | 'delete';
  path?: string;
  qs?: Record<string, unknown>;
  body?: unknown;
  signal?: AbortSignal;
  /** Extra time this request may legitimately wait (a long-poll). */
  waitMs?: number;
  /** Deadline instead of requestTimeoutMs + waitMs. */
  deadlineMs?: number;
  /** Ask the server's root, not the database. */
  root?: boolean;
}

/** Split a database URL into a credential-free server URL, the database name and the credentials. */
export function parseDatabaseUrl(url: string): {server: string; db: string; user?: string; password?: string; location: string} {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    throw new ConfigError(`database URL is not a valid URL: ${url.replace(/\/\/.*@/, '//***@')}`);
  }
  // A % that is not an escape (a password like 50%off) is taken as written.
  const decode = (text: string): string => {
    try {
      return decodeURIComponent(text);
    } catch {
      return text;
    }
  };
  const user = parsed.username ? decode(parsed.username) : undefined;
  const password = parsed.password ? decode(parsed.password) : undefined;
  parsed.username = '';
  parsed.password = '';
  const parts = parsed.pathname.split('/').filter(Boolean);
  const db = parts.pop();
  if (!db) throw new ConfigError(`database URL ${parsed.href} names no database (expected http://host:5984/NAME)`);
  parsed.pathname = parts.length ? `/${parts.join('/')}/` : '/';
  parsed.search = '';
  const server = parsed.href;
  return {server, db: decode(db), user, password, location: `${server}${db}`};
}

/** The server backend: CouchDB (or Cloudant, or any CouchDB-compatible server) over HTTP through nano. */
export class CouchStore implements Store {
  readonly kind = 'server' as const;
  readonly location: string;
  readonly #nano: Nano.ServerScope;
  readonly #db: string;
  /** The server's root, without credentials. */
  readonly #server: string;
  readonly #user: string | undefined;
  readonly #requestTimeoutMs: number;
  readonly #longPollGraceMs: number;
  readonly #controller = new AbortController();
  /** The revision of each `_local` document this store last wrote (see putLocalDoc). */
  readonly #localRevs = new Map<string, string>();
  /** Whether this store created the database (in create()). */
  #created = false;
  /** What the server's root says of it, asked once. */
  #reductionsStored: Promise<boolean> | undefined;

  constructor(options: CouchStoreOptions) {
    const parsed = parseDatabaseUrl(options.url);
    this.location = parsed.location;
    this.#db = parsed.db;
    this.#server = parsed.server;
    this.#user = options.user ?? parsed.user;
    const password = options.password ?? parsed.password;
    this.#requestTimeoutMs = options.requestTimeoutMs ?? 60_000;
    this.#longPollGraceMs = options.longPollGraceMs ?? 2000;
    const headers: Record<string, string> = {};
    if (this.#user !== undefined) {
      headers.Authorization = `Basic ${Buffer.from(`${this.#user}:${password ?? ''}`).toString('base64')}`;
    }
    this.#nano = Nano({url: parsed.server, headers, log: () => {}});
  }

  async #request<T>(what: string, spec: RequestSpec): Promise<T> {
    try {
      return await withDeadline([manyListeners(this.#controller.signal), spec.signal], spec.deadlineMs ?? this.#requestTimeoutMs + (spec.waitMs ?? 0), async (signal) => {
        const result = (await this.#nano.request({
          ...(spec.root ? {} : {db: this.#db}), method: spec.method ?? 'get', path: spec.path, qs: spec.qs, body: spec.body, signal,
        } as Nano.RequestOptions)) as T;
        // nano swallows a body that fails to parse (an aborted read among them) and resolves with ''.
        // Not aborted, it is a connection cut mid-answer (a server killed or restarted): an outage.
        if ((result as unknown) === '') throw signal.aborted ? signal.reason : new Error('the answer was cut off');
        return result;
      });
    } catch (error) {
      throw this.#translate(error, what, spec.signal);
    }
  }

  /** Turn nano's error into one of edw's, with a message that names the database and never a password. */
  #translate(error: unknown, what: string, signal?: AbortSignal): Error {
    const e = error as {statusCode?: number; reason?: string; error?: string; name?: string; message?: string};
    if (signal?.aborted) return signal.reason instanceof Error ? signal.reason : new EdwError(`${what}: aborted`, {cause: error});
    const status = e.statusCode;
    const reason = e.reason ?? e.error ?? '';
    const where = `${what} at ${this.location}`;
    if (status === undefined) {
      const timedOut = e.name === 'TimeoutError' || /timeout|aborted/i.test(String(e.message));
      const cause = (error as {cause?: {code?: string}}).cause;
      const detail = timedOut ? 'no answer in time' : (cause?.code ?? 'connection failed');
      return new UnavailableError(`cannot reach the database (${where}): ${detail}`, {cause: error});
    }
    if (status === 401) {
      return new AuthError(`the database refused the credentials${this.#user ? ` of user ${this.#user}` : ''} (${where}): ${reason || 'unauthorized'}`, {cause: error});
    }
    // CouchDB 3.4+ ([chttpd_auth_lockout]) locks a user after repeated wrong passwords from one address.
    if (status === 403 && /locked/i.test(reason)) {
      return new AuthError(`the database server ${this.#server} has locked${this.#user ? ` user ${this.#user}` : ' this account'} after repeated wrong passwords (${what}): `
        + "it clears by itself after CouchDB's lockout time ([chttpd_auth_lockout] lockout_timeout, 5 minutes by default); check the password edw is given", {cause: error});
    }
    if (status === 403) return new ForbiddenError(`${where} was refused: ${reason || 'forbidden'}`, {cause: error});
    if (status === 404) return new NotFoundError(`${where}: not found${reason ? ` (${reason})` : ''}`, {cause: error});
    // A cluster answers 412 `nodedown` ("progress not possible") or `read_quorum_not_met` while shard
    // copies are down or restarting: a passing condition, not a conflict.
    if (status === 412 && TRANSIENT_ERRORS.has(String(e.error))) return new UnavailableError(`the database cannot answer now (${where}): ${e.error}${e.reason ? `: ${e.reason}` : ''}`, {cause: error});
    if (status === 409 || status === 412) return new ConflictError(`${where}: ${reason || 'conflict'}`, {cause: error});
    if (status === 429 || status >= 500) return new UnavailableError(`the database failed (${where}): HTTP ${status} ${reason}`.trim(), {cause: error});
    return new EdwError(`${where}: HTTP ${status} ${reason}`.trim(), {cause: error});
  }

  async create(): Promise<boolean> {
    try {
      await this.#request('create database', {method: 'put'});
      this.#created = true;
    } catch (error) {
      if (!(error instanceof ConflictError)) throw error; // 412: it exists
    }
    // Same answer on every call, as PouchStore's: openStore({create: true}) already created it, and
    // `edw init` then asks again (it printed 'found database' for a database it had just created).
    return this.#created;
  }

  async info(signal?: AbortSignal): Promise<StoreInfo> {
    const info = await this.#request<{doc_count: number; update_seq: unknown}>('open database', {signal});
    // CouchDB's root answers {"couchdb": "Welcome", ...}; pouchdb-server's {"express-pouchdb": ...}.
    this.#reductionsStored ??= this.#request<Record<string, unknown>>('read the server', {root: true, signal})
      .then((root) => 'couchdb' in root)
      .catch((error: unknown) => {
        this.#reductionsStored = undefined;
        throw error;
      });
    return {docCount: info.doc_count, updateSeq: String(info.update_seq), reductionsStored: await this.#reductionsStored};
  }

  async get(id: string, options: GetOptions = {}): Promise<Doc | null> {
    const qs: Record<string, unknown> = {};
    if (options.conflicts) qs.conflicts = true;
    if (options.rev) qs.rev = options.rev;
    try {
      return await this.#request<Doc>(`read ${id}`, {path: docPath(id), qs, signal: options.signal});
    } catch (error) {
      if (error instanceof NotFoundError) return null;
      throw error;
    }
  }

  async getMany(ids: string[], signal?: AbortSignal, options: {conflicts?: boolean} = {}): Promise<(Doc | null)[]> {
    if (ids.length === 0) return [];
    const result = await this.#request<{rows: Array<{doc?: Doc | null}>}>('read documents', {
      method: 'post', path: '_all_docs', qs: {include_docs: true, ...(options.conflicts ? {conflicts: true} : {})}, body: {keys: ids}, signal,
    });
    return result.rows.map((row) => row.doc ?? null);
  }

  async put(doc: Doc, signal?: AbortSignal): Promise<string> {
    const result = await this.#request<{rev: string}>(`write ${doc._id}`, {method: 'put', path: docPath(doc._id), body: doc, signal});
    return result.rev;
  }

  async bulkWrite(docs: Doc[], signal?: AbortSignal): Promise<WriteOutcome[]> {
    if (docs.length === 0) return [];
    const results = await this.#request<Array<{id: string; rev?: string; ok?: boolean; error?: string; reason?: string}>>(
      'write documents', {method: 'post', path: '_bulk_docs', body: {docs}, signal});
    // Matched by id, not position: pouchdb-server answers out of order when some documents are refused.
    const byId = new Map<string, typeof results>();
    for (const r of results) byId.set(r.id, [...(byId.get(r.id) ?? []), r]);
    return docs.map((doc, i): WriteOutcome => {
      const r = byId.get(doc._id)?.shift() ?? results[i] ?? {id: doc._id, error: 'unknown_error', reason: 'no outcome in the answer'};
      const id = doc._id;
      if (!r.error && r.rev) return {id, ok: true, rev: r.rev};
      const error = r.error === 'conflict' || r.error === 'forbidden' || r.error === 'unauthorized' ? r.error : TRANSIENT_ERRORS.has(String(r.error)) ? 'unavailable' : 'other';
      return {id, ok: false, error, reason: r.reason ?? r.error ?? 'unknown'};
    });
  }

  async writeRevisions(docs: Doc[], signal?: AbortSignal): Promise<void> {
    if (docs.length === 0) return;
    // With new_edits=false the answer lists only the documents that failed.
    const failed = await this.#request<Array<{id: string; error?: string; reason?: string}>>('write revisions', {method: 'post', path: '_bulk_docs', body: {docs, new_edits: false}, signal});
    const first = failed.find((r) => r.error);
    if (first) throw new ForbiddenError(`write revisions at ${this.location}: ${first.id} was refused: ${first.reason ?? first.error}`);
  }

  async changes(params: ChangesParams): Promise<ChangesPage> {
    const waitMs = params.waitMs ?? 0;
    const qs: Record<string, unknown> = {
      since: params.since,
      limit: params.limit ?? 1000,
      feed: waitMs > 0 ? 'longpoll' : 'normal',
    };
    if (waitMs > 0) qs.timeout = waitMs;
    if (params.includeDocs) qs.include_docs = true;
    if (params.conflicts) qs.conflicts = true;
    if (params.allLeaves) qs.style = 'all_docs';
    // CouchDB's root says it is CouchDB (info() asked it): its selectors run natively.
    const selector = params.selector && (await this.#reductionsStored?.catch(() => false)) ? params.selector : undefined;
    if (selector) qs.filter = '_selector';
    else if (params.filter) {
      Object.assign(qs, params.filter.params ?? {});
      qs.filter = params.filter.name;
    }
    const asked = selector ? {method: 'post' as const, body: {selector}} : {};
    type Page = {results: Array<{id: string; seq: unknown; deleted?: boolean; doc?: Doc; changes?: Array<{rev: string}>}>; last_seq: unknown};
    let page: Page;
    try {
      page = await this.#request<Page>('read changes', {
        path: '_changes', qs, signal: params.signal, waitMs, ...asked,
        ...(waitMs > 0 ? {deadlineMs: waitMs + Math.min(this.#longPollGraceMs, this.#requestTimeoutMs)} : {}),
      });
    } catch (error) {
      if (!(waitMs > 0 && error instanceof UnavailableError && error.cause instanceof DeadlineError)) throw error;
      // Nothing came within the wait and the server did not answer its own timeout (pouchdb-server
      // never does; a connection left silent by a restarted server neither). A normal feed on a new
      // connection answers at once, with the position the filter has scanned to: without it a
      // filtered feed that matches nothing would never move its position on.
      if (params.signal?.aborted) return {results: [], lastSeq: params.since};
      const {timeout: _wait, ...normal} = qs;
      page = await this.#request<Page>('read changes', {path: '_changes', qs: {...normal, feed: 'normal'}, signal: params.signal, ...asked});
    }
    return {
      lastSeq: String(page.last_seq),
      results: page.results.map((c) => ({
        id: c.id, seq: String(c.seq), ...(c.deleted ? {deleted: true} : {}), ...(c.doc ? {doc: c.doc} : {}),
        ...(params.allLeaves ? {leaves: (c.changes ?? []).map((r) => r.rev)} : {}),
      })),
    };
  }

  async query(params: ViewParams): Promise<ViewResult> {
    const qs = viewQuery(params);
    const what = `query view ${params.design}/${params.view}`;
    try {
      return await this.#request<ViewResult>(what, {path: `_design/${params.design}/_view/${params.view}`, qs, signal: params.signal});
    } catch (error) {
      if (error instanceof NotFoundError) {
        throw new NotFoundError(`view ${params.design}/${params.view} is missing at ${this.location}: run 'edw push-design'`, {cause: error});
      }
      throw error;
    }
  }

  async find(params: FindParams): Promise<FindResult> {
    const {signal} = params;
    const answer = await this.#request<{docs: Doc[]; warning?: string}>('find documents', {method: 'post', path: '_find', body: findRequest(params), signal});
    return {docs: answer.docs, ...(answer.warning ? {warning: answer.warning} : {})};
  }

  async explain(params: FindParams): Promise<FindPlan> {
    return findPlan(await this.#request('explain a query', {method: 'post', path: '_explain', body: findRequest(params), signal: params.signal}));
  }

  async createIndex(spec: IndexSpec): Promise<boolean> {
    const answer = await this.#request<{result?: string}>(`create index ${spec.ddoc}/${spec.name}`, {method: 'post', path: '_index', body: indexRequest(spec), signal: spec.signal});
    return answer.result === 'created';
  }

  async getLocal(id: string, signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    const doc = await this.get(`_local/${id}`, {signal});
    if (!doc) return null;
    const {_id, _rev, ...body} = doc;
    return body;
  }

  async putLocal(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    await putLocalDoc(this.#localRevs, id, body, {get: (docId) => this.get(docId, {signal}), put: (doc) => this.put(doc, signal)});
  }


  async close(): Promise<void> {
    this.#controller.abort(new EdwError('store closed'));
  }

  async destroy(): Promise<void> {
    await this.#request('delete database', {method: 'delete'});
  }
}

/**
 * Errors a CouchDB cluster gives, for a request or for one document of a `_bulk_docs`, while nodes are
 * down, restarting or slow (chttpd's error_info): they pass, so the call is worth trying again.
 */
const TRANSIENT_ERRORS = new Set(['nodedown', 'read_quorum_not_met', 'write_quorum_not_met', 'timeout', 'unknown_error', 'internal_server_error', 'service_unavailable']);

/** Path of a document: ids are encoded, but `_design/` and `_local/` keep their slash. */
function docPath(id: string): string {
  const special = /^(_design|_local)\/(.*)$/.exec(id);
  return special ? `${special[1]}/${encodeURIComponent(special[2]!)}` : encodeURIComponent(id);
}
