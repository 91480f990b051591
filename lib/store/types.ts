/** A JSON document as the database holds it. */
export interface Doc {
  _id: string;
  _rev?: string;
  _deleted?: boolean;
  _conflicts?: string[];
  [field: string]: unknown;
}

/** The outcome of one document in a bulk write: each document wins or loses on its own. */
export type WriteOutcome =
  | {id: string; ok: true; rev: string}
  | {id: string; ok: false; error: 'conflict' | 'forbidden' | 'unauthorized' | 'unavailable' | 'other'; reason: string};

export interface GetOptions {
  /** Also return `_conflicts` (the losing revisions of a replicated conflict). @default false */
  conflicts?: boolean;
  /** Return this revision rather than the winning one. */
  rev?: string;
  signal?: AbortSignal;
}

export interface ChangesParams {
  /** Position to read from: a value returned as `lastSeq` or a change's `seq`, or `'0'`/`'now'`. Opaque. */
  since: string;
  /** A filter function of a design document (`'edw/stages'`) and its query parameters. */
  filter?: {name: string; params?: Record<string, string>};
  /**
   * A Mango selector matching at least every document `filter` passes. A store whose server evaluates
   * selectors natively (CouchDB: in Erlang, about 10 times cheaper than a JavaScript filter, which costs
   * it ~1 ms of CPU per change scanned) uses it instead of `filter`; the caller must then drop what the
   * filter would have. Others use `filter`.
   */
  selector?: Record<string, unknown>;
  /** @default false */
  includeDocs?: boolean;
  /** With includeDocs: also return each document's `_conflicts`. @default false */
  conflicts?: boolean;
  /**
   * Return every leaf revision of each changed document in `leaves` (CouchDB's `style=all_docs`): a
   * document with more than one has, or once had, replication conflicts (deleted leaves included).
   * @default false
   */
  allLeaves?: boolean;
  /** Most changes returned by one call. @default 1000 */
  limit?: number;
  /**
   * Long-poll: when nothing has changed since `since`, wait up to this long for a change before
   * returning an empty page. 0 returns at once. @default 0
   */
  waitMs?: number;
  signal?: AbortSignal;
}

export interface Change {
  id: string;
  /** Opaque; never compared or parsed. */
  seq: string;
  deleted?: boolean;
  doc?: Doc;
  /** With `allLeaves`: every leaf revision of the document, the winning one first. */
  leaves?: string[];
}

export interface ChangesPage {
  results: Change[];
  /** Position after this page, opaque; save it only once the changes before it are handled. */
  lastSeq: string;
}

export type ViewKey = unknown;

export interface ViewParams {
  /** Design document name without `_design/`. */
  design: string;
  view: string;
  key?: ViewKey;
  startkey?: ViewKey;
  endkey?: ViewKey;
  /** @default true */
  inclusiveEnd?: boolean;
  /** @default true when the view has a reduce */
  reduce?: boolean;
  groupLevel?: number;
  includeDocs?: boolean;
  /** With includeDocs: also return each document's `_conflicts`. @default false */
  conflicts?: boolean;
  limit?: number;
  skip?: number;
  descending?: boolean;
  /**
   * False: answer from the index as it stands, without first indexing the changes since its last
   * update (`stale=ok`: CouchDB 3's `stable=true&update=false`, understood by PouchDB and
   * pouchdb-server alike). For reads that know the index already covers what they need, such as the
   * later pages of a sweep whose first page brought it up to date. @default true
   */
  update?: boolean;
  signal?: AbortSignal;
}

export interface ViewRow {
  id?: string;
  key: ViewKey;
  value: unknown;
  doc?: Doc | null;
}

export interface ViewResult {
  rows: ViewRow[];
}

export interface StoreInfo {
  docCount: number;
  /** Opaque position of the latest change. */
  updateSeq: string;
  /**
   * Whether the server keeps view reductions in its index (CouchDB, Cloudant), so that a reduce over
   * a whole view costs milliseconds. PouchDB, embedded or inside pouchdb-server, re-reads every row
   * of the range on each reduce query.
   */
  reductionsStored: boolean;
}

/** A Mango query (`_find`). */
export interface FindParams {
  /** The Mango selector. */
  selector: Record<string, unknown>;
  /** Fields of each document returned. @default the whole document */
  fields?: string[];
  /** Most documents returned. @default every match (Mango's own default is 25) */
  limit?: number;
  /** Ask for this index (`[ddoc, name]` or a design document name); the server may still not use it. */
  useIndex?: string | [string, string];
  signal?: AbortSignal;
}

export interface FindResult {
  docs: Doc[];
  /** The server's warning, when no index served the selector (it then read every document). */
  warning?: string;
}

/** Which index a Mango query would use (`_explain`). */
export interface FindPlan {
  /** Design document of the index, null for `_all_docs` (no index: every document is read). */
  ddoc: string | null;
  /** Name of the index (`_all_docs` when none). */
  name: string;
  /** `json` for an index of fields, `special` for `_all_docs`. */
  type: string;
  /** Fields the index covers. */
  fields: string[];
}

/** A Mango index (`_index`) on fields, kept in design document `ddoc`. */
export interface IndexSpec {
  /** Fields indexed, in order (`run`, `conditions.temperature`). */
  fields: string[];
  /** Design document name without `_design/`. */
  ddoc: string;
  /** Index name inside the design document. */
  name: string;
  signal?: AbortSignal;
}

/**
 * The one interface the rest of edw sees over a database. CouchDB 3 is the reference: `seq` values
 * are opaque strings, feeds can replay, writes can 409, documents can carry `_conflicts`.
 */
export interface Store {
  /** `embedded` (PouchDB on disk, in this process), `server` (CouchDB over HTTP), `shared` (an embedded database served by another edw process). */
  readonly kind: 'embedded' | 'server' | 'shared';
  /** Where the database is, without credentials: safe to print. */
  readonly location: string;
  /**
   * Create the database when missing. Returns whether this store created it (this call, an earlier
   * one, or `openStore({create: true})`); the same answer on every call.
   */
  create(): Promise<boolean>;
  /** Database facts; throws NotFoundError when the database does not exist. */
  info(signal?: AbortSignal): Promise<StoreInfo>;
  /** A document, or null when it does not exist (or is deleted). */
  get(id: string, options?: GetOptions): Promise<Doc | null>;
  /** Many documents by id in one request; null where missing. Same order as `ids`. */
  getMany(ids: string[], signal?: AbortSignal, options?: {conflicts?: boolean}): Promise<(Doc | null)[]>;
  /** Write one document; throws ConflictError on a stale `_rev`, ForbiddenError when validation refuses it. */
  put(doc: Doc, signal?: AbortSignal): Promise<string>;
  /** Write many documents through `_bulk_docs`; one outcome per document, in order. */
  bulkWrite(docs: Doc[], signal?: AbortSignal): Promise<WriteOutcome[]>;
  /**
   * Write revisions as given, as replication does (`new_edits: false`): each doc carries its `_rev`
   * and `_revisions`; a revision on another branch becomes a conflict. No validation runs here.
   */
  writeRevisions(docs: Doc[], signal?: AbortSignal): Promise<void>;
  /** One page of the changes feed (see ChangesParams.waitMs for long-poll). */
  changes(params: ChangesParams): Promise<ChangesPage>;
  /** Query a view of a design document. */
  query(params: ViewParams): Promise<ViewResult>;
  /** Documents matching a Mango selector (`_find`; pouchdb-find on the embedded database). */
  find(params: FindParams): Promise<FindResult>;
  /** The index a Mango selector would be answered from (`_explain`). */
  explain(params: FindParams): Promise<FindPlan>;
  /** Create a Mango index unless one of that name and fields exists; returns whether it was created. */
  createIndex(spec: IndexSpec): Promise<boolean>;
  /** A `_local` document's body (never replicated, never in the feed), or null. */
  getLocal(id: string, signal?: AbortSignal): Promise<Record<string, unknown> | null>;
  /** Write a `_local` document's body, replacing what was there. */
  putLocal(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<void>;
  /** Release connections and files. Idempotent. */
  close(): Promise<void>;
  /** Delete the database and everything it holds (view indexes included). */
  destroy(): Promise<void>;
}
