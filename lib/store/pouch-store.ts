import {existsSync} from 'node:fs';
import PouchDB from 'pouchdb';
import pouchFind from 'pouchdb-find';
import {ConflictError, EdwError, ForbiddenError, NotFoundError} from '../errors/index.js';
import {storageError} from './storage-error.js';
import {viewQuery} from './view-query.js';
import type {ChangesPage, ChangesParams, Doc, FindParams, FindPlan, FindResult, GetOptions, IndexSpec, Store, StoreInfo, ViewParams, ViewResult, WriteOutcome} from './types.js';
import {findPlan, findRequest, indexRequest} from './find-request.js';
import {changeWaiter, type ChangeWaiter} from './change-waiter.js';
import {Validators} from './validation.js';
import {compiledViews} from './pouch-views.js';
import {putLocalDoc} from './local-docs.js';

PouchDB.plugin(compiledViews);
PouchDB.plugin(pouchFind);

/** PouchDB keeps integer sequences; edw hands them out as opaque strings and reads them back here only. */
function toPouchSeq(since: string): string | number {
  return /^\d+$/.test(since) ? Number(since) : since;
}

function outcomeError(name: string | undefined): 'conflict' | 'forbidden' | 'unauthorized' | 'other' {
  if (name === 'conflict') return 'conflict';
  if (name === 'forbidden') return 'forbidden';
  if (name === 'unauthorized') return 'unauthorized';
  return 'other';
}

/** The embedded backend: PouchDB with LevelDB in a folder on this machine, used by one process at a time. */
export class PouchStore implements Store {
  readonly kind = 'embedded' as const;
  readonly location: string;
  readonly #db: PouchDB;
  readonly #waiter: ChangeWaiter;
  readonly #validators = new Validators();
  readonly #filters = new Map<string, (doc: Doc, req: unknown) => unknown>();
  /** The revision of each `_local` document this store last wrote (see putLocalDoc). */
  readonly #localRevs = new Map<string, string>();
  /** Whether the folder existed before this process opened it (PouchDB creates it on open). */
  readonly #existed: boolean;
  #closed = false;

  /** @param path folder of the database (absolute). */
  constructor(path: string) {
    this.location = path;
    this.#existed = existsSync(path);
    this.#db = new PouchDB(path);
    this.#waiter = changeWaiter(() => {
      const feed = this.#db.changes({live: true, since: 'now'});
      return {onChange: (listener) => feed.on('change', listener), cancel: () => feed.cancel()};
    });
  }

  /**
   * The EdwError for a failed PouchDB call. Storage failures (no HTTP-like status, or a 5xx) are told
   * apart by checking the folder (storageError), not by reading LevelDB's text.
   */
  async #error(error: unknown, what: string): Promise<EdwError> {
    const e = error as {status?: number; name?: string; message?: string; reason?: string};
    const reason = e.reason ?? e.message ?? String(error);
    if (e.status === 409) return new ConflictError(`${what}: document update conflict`, {cause: error});
    if (e.status === 403) return new ForbiddenError(`${what}: ${reason}`, {cause: error});
    if (e.status === 404) return new NotFoundError(`${what}: not found`, {cause: error});
    if (e.status === undefined || e.status >= 500) return storageError(this.location, error, what);
    return new EdwError(`${what}: ${reason} (embedded database ${this.location})`, {cause: error});
  }

  async create(): Promise<boolean> {
    await this.info();
    return !this.#existed;
  }

  async info(): Promise<StoreInfo> {
    try {
      const info = await this.#db.info();
      return {docCount: info.doc_count, updateSeq: String(info.update_seq), reductionsStored: false};
    } catch (error) {
      throw await this.#error(error, 'open');
    }
  }

  async get(id: string, options: GetOptions = {}): Promise<Doc | null> {
    try {
      const opts: Record<string, unknown> = {};
      if (options.conflicts) opts.conflicts = true;
      if (options.rev) opts.rev = options.rev;
      return (await this.#db.get(id, opts)) as Doc;
    } catch (error) {
      if ((error as {status?: number}).status === 404) return null;
      throw await this.#error(error, `read ${id}`);
    }
  }

  async getMany(ids: string[], _signal?: AbortSignal, options: {conflicts?: boolean} = {}): Promise<(Doc | null)[]> {
    if (ids.length === 0) return [];
    try {
      return await this.#currentRevisions(ids, options.conflicts);
    } catch (error) {
      throw await this.#error(error, 'read documents');
    }
  }

  async put(doc: Doc): Promise<string> {
    const [refusal] = await this.#validate([doc]);
    if (refusal) throw new ForbiddenError(`write ${doc._id} at ${this.location} was refused: ${refusal}`);
    let rev: string;
    try {
      rev = (await this.#db.put(doc)).rev;
    } catch (error) {
      throw await this.#error(error, `write ${doc._id}`);
    } finally {
      if (doc._id.startsWith('_design/')) this.#designChanged();
    }
    return rev;
  }

  async bulkWrite(docs: Doc[]): Promise<WriteOutcome[]> {
    if (docs.length === 0) return [];
    const refusals = await this.#validate(docs);
    const accepted = docs.filter((_, i) => !refusals[i]);
    let results: any[] = [];
    try {
      if (accepted.length > 0) results = await this.#db.bulkDocs(accepted);
    } catch (error) {
      throw await this.#error(error, 'write documents');
    } finally {
      if (docs.some((d) => d._id.startsWith('_design/'))) this.#designChanged();
    }
    let next = 0;
    return docs.map((doc, i): WriteOutcome => {
      const refusal = refusals[i];
      if (refusal) return {id: doc._id, ok: false, error: 'forbidden', reason: refusal};
      const r = results[next++];
      const id = (r.id as string | undefined) ?? doc._id;
      if (r.ok || (r.rev && !r.error)) return {id, ok: true, rev: r.rev as string};
      return {id, ok: false, error: outcomeError(r.name ?? r.error), reason: String(r.reason ?? r.message ?? r.error)};
    });
  }

  /**
   * A design document's filter function, compiled once. PouchDB, given the filter's name, reads the
   * design document and compiles the function in a new `vm` context on every changes call, and a
   * long-poll here reads the feed again after each write: thousands of contexts a second under load
   * (a fifth of the CPU of a busy listener). Compiled here, it is kept until a design document changes.
   */
  async #filter(name: string): Promise<(doc: Doc, req: unknown) => unknown> {
    const cached = this.#filters.get(name);
    if (cached) return cached;
    const [design, filter] = name.split('/');
    let source: unknown;
    try {
      const ddoc = await this.#db.get(`_design/${design}`);
      source = (ddoc as {filters?: Record<string, unknown>}).filters?.[filter ?? ''];
    } catch (error) {
      throw await this.#error(error, `read filter ${name}`);
    }
    if (typeof source !== 'string') throw new NotFoundError(`read changes at ${this.location}: filter ${name} not found`);
    let compiled: (doc: Doc, req: unknown) => unknown;
    try {
      compiled = new Function(`"use strict"; return (${source});`)() as typeof compiled;
    } catch (error) {
      throw new EdwError(`read changes at ${this.location}: filter ${name} does not compile: ${(error as Error).message}`);
    }
    this.#filters.set(name, compiled);
    return compiled;
  }

  /** A design document was written: its validators and filters are read again on next use. */
  #designChanged(): void {
    this.#validators.invalidate();
    this.#filters.clear();
  }

  /**
   * PouchDB runs no validate_doc_update: run the design documents' own here, against the current
   * revision, so the embedded database refuses what CouchDB would. A write whose _rev is not the
   * current one is left to PouchDB, which answers 409 as CouchDB does.
   */
  /**
   * The current revision of each document, null where missing or deleted. Direct reads, not
   * `allDocs({keys})`: PouchDB answers that with one LevelDB range scan per key, which made a third of
   * a busy listener's CPU.
   */
  #currentRevisions(ids: string[], conflicts = false): Promise<(Doc | null)[]> {
    return Promise.all(ids.map((id) => this.#db.get(id, conflicts ? {conflicts: true} : {}).then((doc) => doc as Doc, (error: {status?: number}) => {
      if (error?.status === 404) return null;
      throw error;
    })));
  }

  async #validate(docs: Doc[]): Promise<Array<string | null>> {
    const checked = docs.map((doc) => !doc._id.startsWith('_local/') && !doc._id.startsWith('_design/'));
    if (!checked.some(Boolean)) return docs.map(() => null);
    try {
      await this.#validators.ensure(async () => (await this.#db.allDocs({startkey: '_design/', endkey: '_design/\ufff0', include_docs: true})).rows.map((r) => r.doc as Doc));
      if (!this.#validators.active) return docs.map(() => null);
      const withRev = docs.filter((doc, i) => checked[i] && doc._rev);
      const current = new Map<string, Doc>();
      for (const doc of await this.#currentRevisions(withRev.map((d) => d._id))) if (doc) current.set(doc._id, doc);
      return docs.map((doc, i) => {
        if (!checked[i]) return null;
        const old = doc._rev ? current.get(doc._id) ?? null : null;
        if (doc._rev && old?._rev !== doc._rev) return null;
        return this.#validators.check(doc, old);
      });
    } catch (error) {
      throw await this.#error(error, 'validate documents');
    }
  }

  async writeRevisions(docs: Doc[]): Promise<void> {
    if (docs.length === 0) return;
    try {
      await this.#db.bulkDocs(docs, {new_edits: false});
    } catch (error) {
      throw await this.#error(error, 'write revisions');
    } finally {
      if (docs.some((d) => d._id.startsWith('_design/'))) this.#designChanged();
    }
  }

  async changes(params: ChangesParams): Promise<ChangesPage> {
    const deadline = Date.now() + (params.waitMs ?? 0);
    const options: Record<string, unknown> = {
      since: toPouchSeq(params.since),
      limit: params.limit ?? 1000,
      include_docs: params.includeDocs ?? false,
      ...(params.conflicts ? {conflicts: true} : {}),
      ...(params.allLeaves ? {style: 'all_docs'} : {}),
    };
    if (params.filter) {
      options.filter = await this.#filter(params.filter.name);
      options.query_params = params.filter.params ?? {};
    }
    for (;;) {
      // Arm the waiter before reading, so a change landing between the read and the wait still wakes us.
      const wake = this.#waiter.next(params.signal);
      let page: {results: any[]; last_seq: number | string};
      try {
        page = await this.#db.changes(options);
      } catch (error) {
        wake.cancel();
        throw await this.#error(error, 'read changes');
      }
      const lastSeq = String(page.last_seq);
      const remaining = deadline - Date.now();
      if (page.results.length > 0 || remaining <= 0 || params.signal?.aborted) {
        wake.cancel();
        return {
          lastSeq,
          results: page.results.map((c) => ({
            id: c.id as string,
            seq: String(c.seq),
            ...(c.deleted ? {deleted: true} : {}),
            ...(c.doc ? {doc: c.doc as Doc} : {}),
            ...(params.allLeaves ? {leaves: (c.changes as Array<{rev: string}>).map((r) => r.rev)} : {}),
          })),
        };
      }
      options.since = page.last_seq;
      await wake.wait(remaining);
    }
  }

  async query(params: ViewParams): Promise<ViewResult> {
    const options = viewQuery(params);
    try {
      const result = await this.#db.query(`${params.design}/${params.view}`, options);
      return {rows: result.rows};
    } catch (error) {
      if ((error as {status?: number}).status === 404) {
        throw new NotFoundError(`view ${params.design}/${params.view} is missing in ${this.location}: run 'edw push-design'`, {cause: error});
      }
      throw await this.#error(error, `query view ${params.design}/${params.view}`);
    }
  }

  async find(params: FindParams): Promise<FindResult> {
    try {
      const answer = await this.#db.find(findRequest(params));
      return {docs: answer.docs as Doc[], ...(answer.warning ? {warning: answer.warning} : {})};
    } catch (error) {
      throw await this.#error(error, 'find documents');
    }
  }

  async explain(params: FindParams): Promise<FindPlan> {
    try {
      return findPlan(await this.#db.explain(findRequest(params)));
    } catch (error) {
      throw await this.#error(error, 'explain a query');
    }
  }

  async createIndex(spec: IndexSpec): Promise<boolean> {
    try {
      return (await this.#db.createIndex(indexRequest(spec))).result === 'created';
    } catch (error) {
      throw await this.#error(error, `create index ${spec.ddoc}/${spec.name}`);
    }
  }

  async getLocal(id: string): Promise<Record<string, unknown> | null> {
    const doc = await this.get(`_local/${id}`);
    if (!doc) return null;
    const {_id, _rev, ...body} = doc;
    return body;
  }

  async putLocal(id: string, body: Record<string, unknown>): Promise<void> {
    await putLocalDoc(this.#localRevs, id, body, {get: (docId) => this.get(docId), put: (doc) => this.put(doc)});
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#waiter.close();
    await this.#db.close();
  }

  async destroy(): Promise<void> {
    this.#waiter.close();
    this.#closed = true;
    // destroy() also removes the view indexes PouchDB keeps in sibling folders.
    await this.#db.destroy();
  }
}
