import {existsSync} from 'node:fs';
import PouchDB from 'pouchdb';
import {ConflictError, EdwError, ForbiddenError, NotFoundError, UnavailableError} from '../errors/index.js';
import {viewQuery} from './view-query.js';
import type {ChangesPage, ChangesParams, Doc, GetOptions, Store, StoreInfo, ViewParams, ViewResult, WriteOutcome} from './types.js';
import {changeWaiter, type ChangeWaiter} from './change-waiter.js';

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

  #fail(error: unknown, what: string): never {
    const e = error as {status?: number; name?: string; message?: string; reason?: string};
    const reason = e.reason ?? e.message ?? String(error);
    if (e.status === 409) throw new ConflictError(`${what}: document update conflict`, {cause: error});
    if (e.status === 403) throw new ForbiddenError(`${what}: ${reason}`, {cause: error});
    if (e.status === 404) throw new NotFoundError(`${what}: not found`, {cause: error});
    if (/lock|Resource temporarily unavailable/i.test(reason)) {
      throw new UnavailableError(`the embedded database ${this.location} is in use by another process`, {cause: error});
    }
    throw new EdwError(`${what}: ${reason} (embedded database ${this.location})`, {cause: error});
  }

  async create(): Promise<boolean> {
    await this.info();
    return !this.#existed;
  }

  async info(): Promise<StoreInfo> {
    try {
      const info = await this.#db.info();
      return {docCount: info.doc_count, updateSeq: String(info.update_seq)};
    } catch (error) {
      this.#fail(error, 'open database');
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
      this.#fail(error, `read ${id}`);
    }
  }

  async getMany(ids: string[]): Promise<(Doc | null)[]> {
    if (ids.length === 0) return [];
    try {
      const {rows} = await this.#db.allDocs({keys: ids, include_docs: true});
      return rows.map((row) => (row.doc ? (row.doc as Doc) : null));
    } catch (error) {
      this.#fail(error, 'read documents');
    }
  }

  async put(doc: Doc): Promise<string> {
    try {
      return (await this.#db.put(doc)).rev;
    } catch (error) {
      this.#fail(error, `write ${doc._id}`);
    }
  }

  async bulkWrite(docs: Doc[]): Promise<WriteOutcome[]> {
    if (docs.length === 0) return [];
    let results: any[];
    try {
      results = await this.#db.bulkDocs(docs);
    } catch (error) {
      this.#fail(error, 'write documents');
    }
    return results.map((r, i): WriteOutcome => {
      const id = (r.id as string | undefined) ?? docs[i]!._id;
      if (r.ok || (r.rev && !r.error)) return {id, ok: true, rev: r.rev as string};
      return {id, ok: false, error: outcomeError(r.name ?? r.error), reason: String(r.reason ?? r.message ?? r.error)};
    });
  }

  async changes(params: ChangesParams): Promise<ChangesPage> {
    const deadline = Date.now() + (params.waitMs ?? 0);
    const options: Record<string, unknown> = {
      since: toPouchSeq(params.since),
      limit: params.limit ?? 1000,
      include_docs: params.includeDocs ?? false,
    };
    if (params.filter) {
      options.filter = params.filter.name;
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
        this.#fail(error, 'read changes');
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
      this.#fail(error, `query view ${params.design}/${params.view}`);
    }
  }

  async getLocal(id: string): Promise<Record<string, unknown> | null> {
    const doc = await this.get(`_local/${id}`);
    if (!doc) return null;
    const {_id, _rev, ...body} = doc;
    return body;
  }

  async putLocal(id: string, body: Record<string, unknown>): Promise<void> {
    // _local documents belong to one writer (a listener's own checkpoint), so last write wins.
    const current = await this.get(`_local/${id}`);
    await this.put({...body, _id: `_local/${id}`, ...(current?._rev ? {_rev: current._rev} : {})});
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
