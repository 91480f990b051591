/**
 * The backends a storage suite runs on, each giving a fresh database per test:
 * - `embedded`: PouchDB in a fresh temp folder, destroyed on teardown;
 * - `server`: a fresh database on this test file's server (pouchdb-server, started lazily once per
 *   file and stopped after the last test, or the CouchDB of `EDW_TEST_COUCHDB_URL`), deleted on teardown.
 *
 * ```ts
 * forEachBackend((backend) => {
 *   test(`${backend.name}: a missing document reads as null`, async (t) => {
 *     const store = await backend.open(t);
 *     t.is(await store.get('nope'), null);
 *   });
 * });
 * ```
 */
import test, {type ExecutionContext} from 'ava';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {openStore, type Doc, type Store} from '../../lib/store/index.js';
import {startCouchServer, type CouchServer} from './couch-server.js';

export interface OpenOptions {
  /** Database to open (from `freshUrl`); a fresh one when omitted. */
  url?: string;
  /** Create the database when missing. @default true */
  create?: boolean;
  /** Embedded only: serve it to other edw commands (see OpenStoreOptions.share). @default false */
  share?: boolean;
}

export interface Backend {
  readonly name: 'embedded' | 'server';
  /**
   * What answers, known before any test runs: `pouchdb` (embedded), `pouchdb-server`, or `couchdb`
   * (when `EDW_TEST_COUCHDB_URL` is set). Use it to skip what a stand-in cannot do, and say why.
   */
  readonly engine: 'pouchdb' | 'pouchdb-server' | 'couchdb';
  /** Where a fresh database would be (a folder, or a server URL with credentials), not created; removed on teardown. */
  freshUrl(t: ExecutionContext): Promise<string>;
  /**
   * The `[database] url` for a test workspace (test/helpers/workspace.ts): a fresh server database
   * (deleted on teardown), or undefined for embedded, where the workspace keeps its own folder.
   */
  databaseUrl(t: ExecutionContext): Promise<string | undefined>;
  /**
   * Write a document the way an outside script would, not through edw: a plain HTTP PUT for a
   * server; for embedded, `store.put` on the holder's own store (nothing else can reach the folder).
   * Returns the new revision; a refusal (409, 403) throws.
   */
  writeRaw(store: Store, doc: Doc): Promise<string>;
  /** Open a database (fresh unless `options.url`); on teardown it is destroyed and closed. */
  open(t: ExecutionContext, options?: OpenOptions): Promise<Store>;
  /**
   * Another writer on the database at `url` that `store` has open: a second connection for a
   * server; for embedded the same store, since LevelDB admits one handle per folder and a second
   * PouchDB handle in this process would share, and on close shut, the first one's.
   */
  openOther(t: ExecutionContext, url: string, store: Store): Promise<Store>;
}

let serverStarting: Promise<CouchServer> | undefined;

/** This test file's server, started on first use; stopped by the hook below after the last test. */
export function testServer(): Promise<CouchServer> {
  serverStarting ??= startCouchServer();
  return serverStarting;
}

// Registered when a test file imports this module, so every file that may start a server stops it.
test.after.always('stop the test server', async () => {
  if (!serverStarting) return;
  const server = await serverStarting.catch(() => undefined);
  await server?.stop();
});

/** A fresh temp folder, removed (with everything in it) on teardown. */
export async function tempFolder(t: ExecutionContext, prefix = 'edw-test-'): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), prefix));
  t.teardown(() => rm(folder, {recursive: true, force: true}));
  return folder;
}

/** Destroy then close a store on teardown; a store the test already closed is cleaned by its url's teardown. */
function destroyOnTeardown(t: ExecutionContext, store: Store): void {
  t.teardown(async () => {
    await store.destroy().catch(() => {});
    await store.close().catch(() => {});
  });
}

const embedded: Backend = {
  name: 'embedded',
  engine: 'pouchdb',
  async freshUrl(t) {
    return join(await tempFolder(t), 'db');
  },
  async databaseUrl() {
    return undefined;
  },
  writeRaw(store, doc) {
    return store.put(doc);
  },
  async open(t, options = {}) {
    const url = options.url ?? (await this.freshUrl(t));
    const store = await openStore({url, create: options.create ?? true, share: options.share ?? false});
    destroyOnTeardown(t, store);
    return store;
  },
  async openOther(_t, _url, store) {
    return store;
  },
};

const server: Backend = {
  name: 'server',
  engine: process.env.EDW_TEST_COUCHDB_URL ? 'couchdb' : 'pouchdb-server',
  async freshUrl(t) {
    const couch = await testServer();
    const url = couch.databaseUrl();
    t.teardown(() => couch.deleteDatabase(url));
    return url;
  },
  databaseUrl(t) {
    return this.freshUrl(t);
  },
  async writeRaw(store, doc) {
    const couch = await testServer();
    // store.location is the credential-free database URL; the server's own client adds the credentials.
    const name = decodeURIComponent(new URL(store.location).pathname.split('/').filter(Boolean).pop() ?? '');
    const path = `${encodeURIComponent(name)}/${encodeURIComponent(doc._id)}`;
    const {status, body} = await couch.request('PUT', path, doc);
    if (status !== 201 && status !== 202) throw new Error(`raw write of ${doc._id} to ${store.location} failed: HTTP ${status} ${JSON.stringify(body)}`);
    return (body as {rev: string}).rev;
  },
  async open(t, options = {}) {
    if (options.share) throw new TypeError('backends: option share applies to the embedded backend only');
    const url = options.url ?? (await this.freshUrl(t));
    const store = await openStore({url, create: options.create ?? true});
    destroyOnTeardown(t, store);
    return store;
  },
  async openOther(t, url) {
    const store = await openStore({url});
    t.teardown(() => store.close());
    return store;
  },
};

/** Every backend, embedded first. */
export const backends: readonly Backend[] = [embedded, server];

/** Register the same tests once per backend; title them `${backend.name}: …`. */
export function forEachBackend(register: (backend: Backend) => void): void {
  for (const backend of backends) register(backend);
}
