/**
 * A CouchDB-compatible server for tests: pouchdb-server from node_modules, started on a free loopback
 * port in a fresh temp folder, or the real CouchDB named by `EDW_TEST_COUCHDB_URL`.
 *
 * pouchdb-server is a stand-in (see docs MEASURED.md): it embeds PouchDB 7.3.1, ignores
 * `startkey_docid`, and crashes on a failing changes filter unless unhandled rejections only warn.
 */
import {spawn, type ChildProcess} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {existsSync} from 'node:fs';
import {mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {createRequire} from 'node:module';
import {createServer} from 'node:net';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';

export interface CouchServerOptions {
  /**
   * Keep pouchdb-server's databases in LevelDB files in its temp folder, so they survive `restart()`.
   * In memory they are lost on restart. Ignored for an external CouchDB.
   * @default false
   */
  onDisk?: boolean;
  /** Longest wait for the server to answer `GET /` after a start or restart, in ms. @default 30000 */
  startTimeoutMs?: number;
  /** Interval between `GET /` polls while waiting for the server, in ms. @default 25 */
  pollIntervalMs?: number;
  /** After SIGTERM, how long `stop()` waits for the process to exit before SIGKILL, in ms. @default 5000 */
  stopTimeoutMs?: number;
  /**
   * A real CouchDB to use instead of starting pouchdb-server, e.g. `http://admin:pw@127.0.0.1:5984/`.
   * An empty string forces pouchdb-server.
   * @default process.env.EDW_TEST_COUCHDB_URL
   */
  externalUrl?: string;
  /**
   * pouchdb-server only: a server admin (in its config.json), so that it checks logins, `_users` and
   * `_security` as CouchDB does; the helper's own requests and database URLs then carry these
   * credentials. Without it pouchdb-server is in "admin party": everyone is an admin. An external
   * CouchDB has its admins already (its URL's credentials). @default none
   */
  admin?: {name: string; password: string};
}

export interface ServerResponseBody {
  status: number;
  body: any;
}

export interface CouchServer {
  /** What answers: `pouchdb-server` started by this helper, or the `couchdb` named by `EDW_TEST_COUCHDB_URL`. */
  readonly kind: 'pouchdb-server' | 'couchdb';
  /** Server root ending in `/`, with the credentials of an external URL when it had some. */
  readonly url: string;
  /** Server root without credentials: safe to print. */
  readonly location: string;
  /** Whether `stop()`/`restart()` control a process (false for an external CouchDB). */
  readonly canRestart: boolean;
  /** Whether databases survive `restart()`. */
  readonly onDisk: boolean;
  /** The pid of the pouchdb-server process, or undefined for an external server or when stopped. */
  readonly pid: number | undefined;
  /**
   * URL (with the server's credentials) of a fresh, uniquely named database, not created. Names
   * handed out here are deleted by `stop()` when the server is external.
   * @param prefix start of the name (lowercased, other characters replaced by `_`). @default 'edw-test'
   */
  databaseUrl(prefix?: string): string;
  /** Delete a database by name or by URL on this server; a missing one is fine. */
  deleteDatabase(nameOrUrl: string): Promise<void>;
  /** An HTTP request to the server as its configured user; `path` is relative to the root. */
  request(method: string, path: string, body?: unknown): Promise<ServerResponseBody>;
  /**
   * Stop the server: SIGTERM, SIGKILL after `stopTimeoutMs`, wait for exit, remove the temp folder.
   * For an external CouchDB, delete the databases named by `databaseUrl()` instead. Idempotent.
   */
  stop(): Promise<void>;
  /** Stop the process and start it again on the same port and data folder. Throws when `canRestart` is false. */
  restart(): Promise<void>;
  /** The last lines the server wrote to stderr (empty for an external server). */
  stderrTail(): string;
  /**
   * Every log the server wrote since it was first started: all of its stderr and its log file
   * (pouchdb-server's log.txt), or null for an external CouchDB, whose log is not this helper's to read.
   */
  logs(): Promise<string | null>;
}

const DEFAULTS = {
  onDisk: false,
  startTimeoutMs: 30_000,
  pollIntervalMs: 25,
  stopTimeoutMs: 5000,
};

const STDERR_TAIL_CHARS = 4000;
const SETPRIV = '/usr/bin/setpriv';

let databaseCounter = 0;

function validate(options: CouchServerOptions): Required<Omit<CouchServerOptions, 'externalUrl' | 'admin'>> & Pick<CouchServerOptions, 'admin'> & {externalUrl: string} {
  const merged = {...DEFAULTS, externalUrl: process.env.EDW_TEST_COUCHDB_URL ?? '', ...options};
  for (const name of ['startTimeoutMs', 'pollIntervalMs', 'stopTimeoutMs'] as const) {
    const value = merged[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new TypeError(`startCouchServer: option ${name} must be a positive number of ms, got ${String(value)}`);
    }
  }
  if (typeof merged.onDisk !== 'boolean') throw new TypeError(`startCouchServer: option onDisk must be a boolean, got ${String(merged.onDisk)}`);
  return merged;
}

/** A port nothing listens on right now (listen on port 0, read it, close). */
export async function findFreePort(): Promise<number> {
  const server = createServer();
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  await new Promise<void>((resolve) => server.close(() => resolve()));
  if (!address || typeof address === 'string') throw new Error('could not find a free port');
  return address.port;
}

function uniqueDatabaseName(prefix: string): string {
  const clean = prefix.toLowerCase().replace(/[^a-z0-9_$()+/-]/g, '_').replace(/^[^a-z]+/, '');
  databaseCounter += 1;
  return `${clean || 'edw-test'}-${process.pid}-${databaseCounter}-${randomBytes(4).toString('hex')}`;
}

/** Split a server URL into a credential-free root (ending in '/') and an Authorization header. */
function parseServerUrl(url: string): {root: string; authorization: string | undefined; credentialed: string} {
  const parsed = new URL(url);
  const user = decodeURIComponent(parsed.username);
  const password = decodeURIComponent(parsed.password);
  const authorization = user ? `Basic ${Buffer.from(`${user}:${password}`).toString('base64')}` : undefined;
  if (!parsed.pathname.endsWith('/')) parsed.pathname += '/';
  parsed.search = '';
  parsed.hash = '';
  const credentialed = parsed.href;
  parsed.username = '';
  parsed.password = '';
  return {root: parsed.href, authorization, credentialed};
}

/** Common HTTP plumbing of both kinds of server: fetch refuses URLs that carry credentials. */
class ServerClient {
  readonly location: string;
  readonly url: string;
  readonly #authorization: string | undefined;

  constructor(url: string) {
    const {root, authorization, credentialed} = parseServerUrl(url);
    this.location = root;
    this.url = credentialed;
    this.#authorization = authorization;
  }

  async request(method: string, path: string, body?: unknown, timeoutMs = 10_000): Promise<ServerResponseBody> {
    const headers: Record<string, string> = {accept: 'application/json'};
    if (this.#authorization) headers.authorization = this.#authorization;
    if (body !== undefined) headers['content-type'] = 'application/json';
    const response = await fetch(new URL(path, this.location), {
      method,
      headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(timeoutMs),
    });
    const text = await response.text();
    let parsed: unknown = text;
    try {
      parsed = JSON.parse(text);
    } catch {
      // not JSON: keep the text
    }
    return {status: response.status, body: parsed};
  }

  databaseName(nameOrUrl: string): string {
    if (!/^https?:\/\//i.test(nameOrUrl)) return nameOrUrl;
    const parts = new URL(nameOrUrl).pathname.split('/').filter(Boolean);
    return decodeURIComponent(parts[parts.length - 1] ?? '');
  }

  async deleteDatabase(nameOrUrl: string): Promise<void> {
    const name = this.databaseName(nameOrUrl);
    if (!name) throw new Error(`deleteDatabase: ${nameOrUrl} names no database`);
    const {status, body} = await this.request('DELETE', encodeURIComponent(name));
    if (status !== 200 && status !== 202 && status !== 404) {
      throw new Error(`could not delete test database ${name} at ${this.location}: HTTP ${status} ${JSON.stringify(body)}`);
    }
  }

  databaseUrl(name: string): string {
    return new URL(encodeURIComponent(name), this.url).href;
  }
}

/** The real CouchDB of EDW_TEST_COUCHDB_URL: nothing to start; databases it was asked to name are deleted on stop. */
class ExternalCouchServer implements CouchServer {
  readonly kind = 'couchdb' as const;
  readonly canRestart = false;
  readonly onDisk = true;
  readonly pid = undefined;
  readonly #client: ServerClient;
  readonly #named = new Set<string>();
  #stopped: Promise<void> | undefined;

  constructor(url: string) {
    this.#client = new ServerClient(url);
  }

  get url(): string {
    return this.#client.url;
  }
  get location(): string {
    return this.#client.location;
  }

  async check(timeoutMs: number): Promise<void> {
    let result: ServerResponseBody;
    try {
      result = await this.#client.request('GET', '', undefined, timeoutMs);
    } catch (error) {
      throw new Error(`EDW_TEST_COUCHDB_URL (${this.location}) does not answer: ${(error as Error).message}`, {cause: error});
    }
    if (result.status !== 200) throw new Error(`EDW_TEST_COUCHDB_URL (${this.location}) answered GET / with HTTP ${result.status}`);
    // The credentials must be an admin's: tests create and delete databases.
    const session = await this.#client.request('GET', '_session');
    const roles: unknown = session.body?.userCtx?.roles;
    if (!Array.isArray(roles) || !roles.includes('_admin')) {
      throw new Error(`EDW_TEST_COUCHDB_URL (${this.location}) must carry a server admin's credentials (http://admin:pw@host:5984/)`);
    }
  }

  databaseUrl(prefix = 'edw-test'): string {
    const name = uniqueDatabaseName(prefix);
    this.#named.add(name);
    return this.#client.databaseUrl(name);
  }

  deleteDatabase(nameOrUrl: string): Promise<void> {
    return this.#client.deleteDatabase(nameOrUrl);
  }

  request(method: string, path: string, body?: unknown): Promise<ServerResponseBody> {
    return this.#client.request(method, path, body);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      const results = await Promise.allSettled([...this.#named].map((name) => this.#client.deleteDatabase(name)));
      const failed = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
      if (failed.length > 0) throw new AggregateError(failed.map((r) => r.reason), `could not delete ${failed.length} test database(s) at ${this.location}`);
    })();
    return this.#stopped;
  }

  async restart(): Promise<void> {
    throw new Error(`cannot restart the external CouchDB at ${this.location} (canRestart is false)`);
  }

  stderrTail(): string {
    return '';
  }

  async logs(): Promise<null> {
    return null;
  }
}

/** pouchdb-server in a child process, its config, log and data in a temp folder it owns. */
class PouchServerProcess implements CouchServer {
  readonly kind = 'pouchdb-server' as const;
  readonly canRestart = true;
  readonly onDisk: boolean;
  readonly #options: ReturnType<typeof validate>;
  readonly #folder: string;
  #port: number;
  #client: ServerClient;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stderr = '';
  /** Everything written to stderr, over every start. */
  #stderrAll = '';
  #stopped: Promise<void> | undefined;
  /** Set while this helper stops the process, so an exit it did not cause can be reported. */
  #killing = false;
  /** Written into its config.json, answered by its `GET /`: tells this server from another on the port. */
  readonly #uuid = randomBytes(16).toString('hex');
  /** Whether the port was found held by another process (retry elsewhere). */
  #portTaken = false;

  constructor(folder: string, port: number, options: ReturnType<typeof validate>) {
    this.#folder = folder;
    this.#port = port;
    this.#options = options;
    this.onDisk = options.onDisk;
    this.#client = new ServerClient(this.#rootUrl(port));
  }

  /** The server's root URL, with the admin's credentials when it has one. */
  #rootUrl(port: number): string {
    const admin = this.#options.admin;
    return `http://${admin ? `${encodeURIComponent(admin.name)}:${encodeURIComponent(admin.password)}@` : ''}127.0.0.1:${port}/`;
  }

  get url(): string {
    return this.#client.url;
  }
  get location(): string {
    return this.#client.location;
  }
  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  /** Start on a new free port, trying again when another process took the port in between. */
  async startOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.#start();
        return;
      } catch (error) {
        if (!this.#portTaken || attempt >= 3) throw error;
        this.#port = await findFreePort();
        this.#client = new ServerClient(this.#rootUrl(this.#port));
      }
    }
  }

  async #start(): Promise<void> {
    const config = join(this.#folder, 'config.json');
    const admins = this.#options.admin ? {admins: {[this.#options.admin.name]: this.#options.admin.password}} : {};
    if (!existsSync(config)) await writeFile(config, JSON.stringify({couchdb: {uuid: this.#uuid}, ...admins}));
    this.#portTaken = false;
    const require = createRequire(import.meta.url);
    const entry = require.resolve('pouchdb-server'); // lib/index.js, what bin/pouchdb-server requires
    const serverArgs = [
      entry,
      '--port', String(this.#port),
      '--host', '127.0.0.1',
      '--dir', join(this.#folder, 'data'),
      '--config', config,
      '--no-stdout-logs',
      ...(this.onDisk ? [] : ['--in-memory']),
    ];
    // With setpriv the server gets SIGTERM when this process dies, so a killed test run leaks nothing.
    const [command, args] = existsSync(SETPRIV)
      ? [SETPRIV, ['--pdeathsig', 'TERM', '--', process.execPath, ...serverArgs]]
      : [process.execPath, serverArgs];
    this.#stderr = '';
    const child = spawn(command, args, {
      cwd: this.#folder, // it writes log.txt (and config.json by default) into its cwd
      // Replaces the test's NODE_OPTIONS (no tsx loader). Without warn, a failing changes filter
      // becomes an unhandled rejection that kills the whole server.
      env: {...process.env, NODE_OPTIONS: '--unhandled-rejections=warn'},
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    this.#child = child;
    child.stderr!.setEncoding('utf8');
    child.stderr!.on('data', (chunk: string) => {
      this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
      this.#stderrAll += chunk;
    });
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', (code, signal) => {
        // Say so at once when the server dies on its own or by someone else's signal: otherwise the
        // tests only see 'connection failed' and nothing tells why.
        if (!this.#killing) {
          process.stderr.write(`couch-server: pouchdb-server (pid ${child.pid}) on ${this.location} exited unexpectedly `
            + `(code ${code}, signal ${signal}${signal ? ', not sent by this helper' : ''}); stderr: ${this.stderrTail() || '(empty)'}\n`);
        }
        resolve();
      });
      child.once('error', (error) => {
        this.#stderr += `\n${String(error)}`;
        resolve();
      });
    });
    await this.#waitUntilAnswering(child);
  }

  async #waitUntilAnswering(child: ChildProcess): Promise<void> {
    const deadline = Date.now() + this.#options.startTimeoutMs;
    let exited = false;
    void this.#exited.then(() => {
      exited = true;
    });
    let lastError = 'no answer yet';
    for (;;) {
      if (exited) throw this.#startError(`exited (code ${child.exitCode}, signal ${child.signalCode}) before answering`);
      // pouchdb-server logs a busy port and keeps running without listening: fail at once. Two
      // servers can be handed the same free port (another test file, or this one starting two):
      // then the other one answers GET /, and only the uuid tells.
      if (/already in use/.test(this.#stderr)) this.#portTaken = true;
      try {
        const {status, body} = await this.#client.request('GET', '', undefined, Math.max(1, Math.min(2000, deadline - Date.now())));
        if (status === 200 && body?.uuid === this.#uuid) return;
        if (status === 200) this.#portTaken = true;
        lastError = `GET / answered HTTP ${status}`;
      } catch (error) {
        lastError = (error as Error).message;
      }
      if (this.#portTaken) {
        await this.#kill();
        throw this.#startError(`could not listen on port ${this.#port}: another process holds it`);
      }
      if (Date.now() >= deadline) {
        await this.#kill();
        throw this.#startError(`did not answer GET / within ${this.#options.startTimeoutMs} ms (last: ${lastError})`);
      }
      await delay(this.#options.pollIntervalMs);
    }
  }

  #startError(what: string): Error {
    const tail = this.stderrTail();
    return new Error(`pouchdb-server on ${this.location} ${what}; stderr: ${tail ? `\n${tail}` : '(empty)'}`);
  }

  /** SIGTERM, then SIGKILL after stopTimeoutMs; resolves once the process has exited. */
  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    this.#killing = true;
    try {
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        let timer: NodeJS.Timeout | undefined;
        const exitedInTime = await Promise.race([
          this.#exited.then(() => true),
          new Promise<boolean>((resolve) => {
            timer = setTimeout(() => resolve(false), this.#options.stopTimeoutMs);
          }),
        ]);
        clearTimeout(timer);
        if (!exitedInTime) child.kill('SIGKILL');
      }
      await this.#exited;
    } finally {
      this.#killing = false;
    }
    this.#child = undefined;
  }

  databaseUrl(prefix = 'edw-test'): string {
    return this.#client.databaseUrl(uniqueDatabaseName(prefix));
  }

  deleteDatabase(nameOrUrl: string): Promise<void> {
    return this.#client.deleteDatabase(nameOrUrl);
  }

  request(method: string, path: string, body?: unknown): Promise<ServerResponseBody> {
    return this.#client.request(method, path, body);
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      try {
        await this.#kill();
      } finally {
        await rm(this.#folder, {recursive: true, force: true});
      }
    })();
    return this.#stopped;
  }

  async restart(): Promise<void> {
    if (this.#stopped) throw new Error(`pouchdb-server on ${this.location} was stopped; start a new one`);
    await this.#kill();
    await this.#start();
  }

  stderrTail(): string {
    return this.#stderr.split('\n').slice(-20).join('\n').trim();
  }

  async logs(): Promise<string> {
    // It writes log.txt into its cwd, this helper's folder (see #start).
    const file = await readFile(join(this.#folder, 'log.txt'), 'utf8').catch((error: NodeJS.ErrnoException) => {
      if (error.code === 'ENOENT') return '';
      throw error;
    });
    return `${this.#stderrAll}\n${file}`;
  }
}

/**
 * Start a CouchDB-compatible server for a test file, or use the CouchDB of `EDW_TEST_COUCHDB_URL`.
 * Call `stop()` when done (`test.after.always`).
 */
export async function startCouchServer(options: CouchServerOptions = {}): Promise<CouchServer> {
  const settings = validate(options);
  if (settings.externalUrl) {
    const server = new ExternalCouchServer(settings.externalUrl);
    await server.check(settings.startTimeoutMs);
    return server;
  }
  const folder = await mkdtemp(join(tmpdir(), 'edw-pouchdb-server-'));
  const server = new PouchServerProcess(folder, await findFreePort(), settings);
  try {
    await server.startOnFreePort();
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
