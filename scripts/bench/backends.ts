/**
 * The two places the bench measures: the embedded database (PouchDB on disk in a temp folder, through
 * edw's own openStore) and a CouchDB-compatible server (one given by URL, or a pouchdb-server on disk
 * that the bench starts). Each measurement gets a fresh database and drops it afterwards; a pouchdb-server
 * the bench started is restarted after each drop (see serverBackend).
 */
import {mkdtemp, readdir, readFile, readlink, rm} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../../lib/design/index.js';
import {pushQueryIndexes} from '../../lib/query/index.js';
import {openStore, type Store} from '../../lib/store/index.js';
import {startCouchServer, type CouchServer} from '../support/couch-server.js';

export type BackendName = 'embedded' | 'server';

export interface BenchBackend {
  readonly name: BackendName;
  /** What answers, with its version, e.g. `PouchDB 9.0.0 (LevelDB, in process)` or `pouchdb-server 4.2.0`. */
  readonly database: string;
  /** The server's process id when the bench started it (for its CPU time), else undefined. */
  readonly serverPid: number | undefined;
  /** Where a fresh database would be (a folder, or a URL with credentials); not created. */
  freshUrl(purpose: string): string;
  /**
   * Open (creating) a database; with `design`, push edw's design documents first, as `edw init` does.
   * `requestTimeoutMs`: see OpenStoreOptions (server only).
   */
  open(url: string, options?: {design?: boolean; requestTimeoutMs?: number}): Promise<Store>;
  /** Delete a database named by `freshUrl` (view indexes included); restart a pouchdb-server the bench started. */
  drop(url: string): Promise<void>;
  /** Stop what the bench started and remove its folders. Idempotent. */
  close(): Promise<void>;
}

async function openWithDesign(url: string, options: {design?: boolean; requestTimeoutMs?: number}): Promise<Store> {
  const store = await openStore({url, create: true, requestTimeoutMs: options.requestTimeoutMs});
  try {
    if (options.design) {
      // What `edw init` makes: the design documents and edw query's Mango indexes.
      await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
      await pushQueryIndexes(store, []);
    }
  } catch (error) {
    await store.close();
    throw error;
  }
  return store;
}

/** The version of an installed npm package, or 'unknown'. */
export function packageVersion(name: string): string {
  try {
    return (createRequire(import.meta.url)(`${name}/package.json`) as {version: string}).version;
  } catch {
    return 'unknown';
  }
}

/** PouchDB in temp folders of this process. */
export async function embeddedBackend(): Promise<BenchBackend> {
  const root = await mkdtemp(join(tmpdir(), 'edw-bench-'));
  let counter = 0;
  return {
    name: 'embedded',
    database: `PouchDB ${packageVersion('pouchdb')} (LevelDB, in process)`,
    serverPid: undefined,
    freshUrl: (purpose) => join(root, `${purpose}-${++counter}`),
    open: (url, options = {}) => openWithDesign(url, options),
    async drop(url) {
      // destroy() also removes PouchDB's view index folders next to the database's.
      const store = await openStore({url, create: true});
      await store.destroy();
    },
    close: () => rm(root, {recursive: true, force: true}),
  };
}

/** What the server says it is, from `GET /`. */
async function describeServer(server: CouchServer): Promise<string> {
  const {body} = await server.request('GET', '');
  const version = typeof body?.version === 'string' ? body.version : 'unknown version';
  if (server.kind === 'pouchdb-server') return `pouchdb-server ${version} (on disk, started by the bench; embeds PouchDB ${packageVersion('pouchdb-core')})`;
  if (body?.couchdb) return `CouchDB ${version}`;
  if (body?.['express-pouchdb']) return `pouchdb-server ${version}`;
  return `${Object.keys(body ?? {})[0] ?? 'server'} ${version}`;
}

/**
 * A server: the one at `url` (a server root with admin credentials, e.g. `http://admin:pw@host:5984/`),
 * else the one of EDW_TEST_COUCHDB_URL, else a pouchdb-server on disk started here.
 */
export async function serverBackend(url: string | undefined): Promise<BenchBackend> {
  const server = await startCouchServer({onDisk: true, externalUrl: url ?? process.env.EDW_TEST_COUCHDB_URL ?? ''});
  let database: string;
  try {
    database = await describeServer(server);
  } catch (error) {
    await server.stop();
    throw error;
  }
  // A server given by URL on this machine: its CPU time is read from /proc too.
  const externalPid = server.canRestart ? undefined : await listeningPid(server.location);
  return {
    name: 'server',
    database,
    get serverPid() {
      return server.pid ?? externalPid;
    },
    freshUrl: (purpose) => server.databaseUrl(`edw-bench-${purpose}`),
    open: (dbUrl, options = {}) => openWithDesign(dbUrl, options),
    async drop(dbUrl) {
      await server.deleteDatabase(dbUrl);
      // pouchdb-server keeps every long-poll a client gave up on (pouchdb/pouchdb-server#187: its
      // heartbeat timer holds the request), and with it the database that request opened, deleted or
      // not: after the 100,000-document chain ~450 MB of its heap, whose collections then stalled the
      // next measurement's requests for 0.5 s at a time. A restart lets the next measurement start from
      // a server holding nothing of the last one. (A CouchDB given by URL is left as it is.)
      if (server.canRestart) await server.restart();
    },
    close: () => server.stop(),
  };
}

/** CPU seconds (user + system) of one process so far, from /proc; undefined where unreadable. */
async function ownCpuSeconds(pid: number): Promise<number | undefined> {
  try {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8');
    // Fields after the command name (which may hold spaces, hence the last ')'): utime and stime are 14th and 15th.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(fields[11]) + Number(fields[12])) / 100;
  } catch {
    return undefined;
  }
}

/** The parent of each process now running, from /proc. */
async function parents(): Promise<Map<number, number>> {
  const map = new Map<number, number>();
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    const stat = await readFile(`/proc/${name}/stat`, 'utf8').catch(() => '');
    const ppid = Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
    if (ppid) map.set(Number(name), ppid);
  }
  return map;
}

/**
 * CPU seconds (user + system) a process and the children it has now have used so far (CouchDB runs
 * its JavaScript, views and validate_doc_update, in couchjs children of beam.smp); undefined where
 * unreadable. A child that has exited since the last reading drops out of the sum, so the figure is
 * for servers whose children live as long as they do.
 */
export async function processCpuSeconds(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  const own = await ownCpuSeconds(pid);
  if (own === undefined) return undefined;
  const tree = await parents();
  let total = own;
  const under = (p: number): boolean => p === pid || (tree.has(p) && p !== 1 && under(tree.get(p)!));
  for (const [child, parent] of tree) if (child !== pid && under(parent)) total += (await ownCpuSeconds(child)) ?? 0;
  return total;
}

/** The process listening on a loopback TCP port, from /proc (for a server given by URL on this machine); undefined elsewhere. */
export async function listeningPid(url: string): Promise<number | undefined> {
  const {hostname, port, protocol} = new URL(url);
  if (!['127.0.0.1', 'localhost', '[::1]'].includes(hostname)) return undefined;
  const hex = Number(port || (protocol === 'https:' ? 443 : 80)).toString(16).toUpperCase().padStart(4, '0');
  const inodes = new Set<string>();
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    for (const line of (await readFile(table, 'utf8').catch(() => '')).split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      // local_address ends in :PORT, state 0A is LISTEN, the inode is the tenth field.
      if (f[1]?.endsWith(`:${hex}`) && f[3] === '0A') inodes.add(f[9]!);
    }
  }
  if (inodes.size === 0) return undefined;
  for (const name of await readdir('/proc').catch(() => [] as string[])) {
    if (!/^\d+$/.test(name)) continue;
    for (const fd of await readdir(`/proc/${name}/fd`).catch(() => [] as string[])) {
      const target = await readlink(`/proc/${name}/fd/${fd}`).catch(() => '');
      if (inodes.has(/^socket:\[(\d+)\]$/.exec(target)?.[1] ?? '')) return Number(name);
    }
  }
  return undefined;
}

/** Resident memory of a process in MB, from /proc; undefined where unreadable. */
export async function processRssMb(pid: number | undefined): Promise<number | undefined> {
  if (pid === undefined) return undefined;
  try {
    const match = /^VmRSS:\s+(\d+) kB$/m.exec(await readFile(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) / 1024 : undefined;
  } catch {
    return undefined;
  }
}
