/**
 * Who may use `edw serve`: on a CouchDB-compatible server (pouchdb-server started here with a server
 * admin, so that it checks logins, `_users` and `_security` as CouchDB does; or the CouchDB of
 * EDW_TEST_COUCHDB_URL), users log in against the server, readers are the database's members,
 * operators the users with the operator role; a cookie's changes need the CSRF token; failed logins
 * are limited; and no password or session cookie ever reaches a log line. On the embedded database,
 * reading needs no login and changes need the operator token.
 */
import {randomBytes} from 'node:crypto';
import {Writable} from 'node:stream';
import test, {type ExecutionContext} from 'ava';
import type {FastifyInstance} from 'fastify';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {createLogger, silentLogger, type Logger} from '../lib/log/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {createApp, SESSION_COOKIE} from '../lib/serve/index.js';
import {CouchAuth, openStore, type Doc, type Store} from '../lib/store/index.js';
import {backends} from './helpers/backends.js';
import {spawnEdw} from './helpers/cli.js';
import {startCouchServer, type CouchServer} from './helpers/couch-server.js';
import {workspace} from './helpers/workspace.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}, {name: 'ingest_detections', after: 'signal_processing'}];
const TOKEN = 'operator-token-0123456789abcdef';
/** The server admin: the one in EDW_TEST_COUCHDB_URL on a real CouchDB, else one made for the pouchdb-server started here. */
const ADMIN = adminOf(process.env.EDW_TEST_COUCHDB_URL) ?? {name: 'edw-admin', password: `admin-pw-${randomBytes(6).toString('hex')}`};
const ENGINE = backends[1]!.engine;

function adminOf(url: string | undefined): User | undefined {
  if (!url) return undefined;
  const {username, password} = new URL(url);
  return username ? {name: decodeURIComponent(username), password: decodeURIComponent(password)} : undefined;
}

let serverStarting: Promise<CouchServer> | undefined;
function authServer(): Promise<CouchServer> {
  serverStarting ??= startCouchServer({admin: ADMIN});
  return serverStarting;
}
test.after.always('stop the server', async () => {
  await (await serverStarting?.catch(() => undefined))?.stop();
});

const failedDoc = (id: string): Doc => ({
  _id: id, status: 'good', run: 'run_a', md5sum: 'x', original_file: `/raw/${id}`, process: [],
  edw: {failed: {step: 'move_to_sps', version: '1', attempts: 3, error: 'md5 mismatch', at: '2026-11-24T11:00:00Z'}},
});

interface User {
  name: string;
  password: string;
}

interface Setup {
  server: CouchServer;
  dbUrl: string;
  store: Store;
  /** alice: operator role; bob: a member; carol: neither. */
  users: {alice: User; bob: User; carol: User};
}

/** A fresh database on the auth server, with a failed document, and three fresh users. */
async function setUp(t: ExecutionContext): Promise<Setup> {
  const server = await authServer();
  const dbUrl = server.databaseUrl('edw-auth');
  t.teardown(() => server.deleteDatabase(dbUrl));
  const store = await openStore({url: dbUrl, create: true});
  t.teardown(() => store.close());
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await store.bulkWrite([failedDoc('f-1'), failedDoc('f-2')]);
  const suffix = randomBytes(4).toString('hex');
  const user = (name: string, roles: string[]): User & {roles: string[]} => ({name: `${name}-${suffix}`, password: `${name}-pw-${randomBytes(6).toString('hex')}`, roles});
  const users = {alice: user('alice', ['edw-operator']), bob: user('bob', []), carol: user('carol', [])};
  for (const u of Object.values(users)) {
    const id = `org.couchdb.user:${u.name}`;
    const put = await server.request('PUT', `_users/${encodeURIComponent(id)}`, {_id: id, name: u.name, password: u.password, roles: u.roles, type: 'user'});
    if (put.status !== 201 && put.status !== 202) throw new Error(`user ${u.name}: HTTP ${put.status}`);
    t.teardown(async () => {
      const doc = await server.request('GET', `_users/${encodeURIComponent(id)}`);
      if (doc.status === 200) await server.request('DELETE', `_users/${encodeURIComponent(id)}?rev=${doc.body._rev}`);
    });
  }
  const db = decodeURIComponent(new URL(dbUrl).pathname.split('/').filter(Boolean).pop()!);
  const security = await server.request('PUT', `${encodeURIComponent(db)}/_security`, {admins: {names: [], roles: []}, members: {names: [users.bob.name], roles: ['edw-operator']}});
  if (security.status !== 200) throw new Error(`_security: HTTP ${security.status}`);
  return {server, dbUrl, store, users};
}

async function app(t: ExecutionContext, setup: Setup, log: Logger = silentLogger(), trustProxy?: string[]): Promise<FastifyInstance> {
  const instance = await createApp({store: setup.store, chain: CHAIN, log, couchAuth: new CouchAuth({url: setup.dbUrl}), operatorToken: TOKEN, ...(trustProxy ? {trustProxy} : {})});
  t.teardown(() => instance.close());
  return instance;
}

const basic = (u: User): string => `Basic ${Buffer.from(`${u.name}:${u.password}`).toString('base64')}`;

async function call(instance: FastifyInstance, method: 'GET' | 'POST' | 'DELETE', url: string, options: {headers?: Record<string, string>; cookies?: Record<string, string>; body?: unknown; remoteAddress?: string} = {}) {
  const response = await instance.inject({
    method, url, headers: options.headers ?? {}, cookies: options.cookies ?? {},
    ...(options.body !== undefined ? {payload: options.body as object} : {}), ...(options.remoteAddress ? {remoteAddress: options.remoteAddress} : {}),
  });
  return {status: response.statusCode, body: JSON.parse(response.body), cookies: response.cookies as Array<{name: string; value: string}>};
}

async function failedStill(store: Store, id: string): Promise<boolean> {
  return !!((await store.get(id)) as DataFileDoc).edw?.failed;
}

test('on a server, a request without credentials is refused with 401, reading and changing alike, and changes nothing', async (t) => {
  const setup = await setUp(t);
  const api = await app(t, setup);
  const read = await call(api, 'GET', '/api/v1/status');
  t.is(read.status, 401);
  t.is(read.body.error, 'unauthorized');
  const post = await call(api, 'POST', '/api/v1/retry', {body: {ids: ['f-1']}});
  t.is(post.status, 401);
  t.true(await failedStill(setup.store, 'f-1'));
  const wrong = await call(api, 'GET', '/api/v1/status', {headers: {authorization: basic({...setup.users.bob, password: 'wrong'})}});
  t.deepEqual([wrong.status, wrong.body.message], [401, 'name or password is incorrect']);
  t.is((await call(api, 'GET', '/api/v1/openapi.json')).status, 200, 'the API description is public');
  t.is((await api.inject({method: 'GET', url: '/'})).statusCode, 200, 'so is the web page, which asks for a login');
  t.is((await call(api, 'GET', '/api/v1/events')).status, 401, 'its live events are not');
  t.is((await call(api, 'GET', '/metrics')).status, 401, 'nor are the metrics');
});

test('a member of the database reads; its POST retry is refused with 403; a user who is not a member cannot read (403)', async (t) => {
  const setup = await setUp(t);
  const api = await app(t, setup);
  const {bob, carol} = setup.users;
  const read = await call(api, 'GET', '/api/v1/status', {headers: {authorization: basic(bob)}});
  t.is(read.status, 200);
  t.is(read.body.total, 2);
  const post = await call(api, 'POST', '/api/v1/retry', {headers: {authorization: basic(bob)}, body: {ids: ['f-1']}});
  t.deepEqual([post.status, post.body.error, post.body.message], [403, 'forbidden', `${bob.name} is not an operator (role edw-operator)`]);
  t.true(await failedStill(setup.store, 'f-1'));
  const stranger = await call(api, 'GET', '/api/v1/documents', {headers: {authorization: basic(carol)}});
  t.deepEqual([stranger.status, stranger.body.message], [403, `${carol.name} is not a member of the database`]);
  const who = await call(api, 'GET', '/api/v1/session', {headers: {authorization: basic(bob)}});
  t.like(who.body, {via: 'basic', name: bob.name, reader: true, operator: false});
});

test('an operator (a user with the operator role) retries with Basic auth, and so does the operator token', async (t) => {
  const setup = await setUp(t);
  const api = await app(t, setup);
  const byRole = await call(api, 'POST', '/api/v1/retry', {headers: {authorization: basic(setup.users.alice)}, body: {ids: ['f-1']}});
  t.deepEqual([byRole.status, byRole.body.retried], [200, 1]);
  t.false(await failedStill(setup.store, 'f-1'));
  const byToken = await call(api, 'POST', '/api/v1/retry', {headers: {authorization: `Bearer ${TOKEN}`}, body: {ids: ['f-2']}});
  t.deepEqual([byToken.status, byToken.body.retried], [200, 1]);
  t.false(await failedStill(setup.store, 'f-2'));
});

test('a login sets the session cookie; a POST made with it but without the CSRF token is refused (403) and changes nothing; with the token it works; logout clears it; a forged cookie is 401', async (t) => {
  const setup = await setUp(t);
  const api = await app(t, setup);
  const {alice} = setup.users;
  const login = await call(api, 'POST', '/api/v1/session', {body: {name: alice.name, password: alice.password}});
  t.is(login.status, 200, JSON.stringify(login.body));
  t.like(login.body, {via: 'cookie', name: alice.name, reader: true, operator: true});
  const session = login.cookies.find((c) => c.name === SESSION_COOKIE)!.value;
  const secret = login.cookies.find((c) => c.name === '_csrf')!.value;
  t.truthy(session);
  const cookies = {[SESSION_COOKIE]: session, _csrf: secret};
  t.is((await call(api, 'GET', '/api/v1/documents', {cookies})).status, 200, 'the cookie reads');
  const noToken = await call(api, 'POST', '/api/v1/retry', {cookies, body: {ids: ['f-1']}});
  t.deepEqual([noToken.status, noToken.body.error], [403, 'forbidden']);
  t.regex(noToken.body.message, /CSRF token in the x-csrf-token header/);
  const badToken = await call(api, 'POST', '/api/v1/retry', {cookies, headers: {'x-csrf-token': 'forged'}, body: {ids: ['f-1']}});
  t.is(badToken.status, 403);
  t.true(await failedStill(setup.store, 'f-1'), 'refused requests changed nothing');
  const withToken = await call(api, 'POST', '/api/v1/retry', {cookies, headers: {'x-csrf-token': login.body.csrf_token}, body: {ids: ['f-1']}});
  t.deepEqual([withToken.status, withToken.body.retried], [200, 1]);
  const logout = await call(api, 'DELETE', '/api/v1/session', {cookies});
  t.is(logout.status, 200);
  // CouchDB's session cookies are signed, not stored: logging out removes the browser's copy.
  t.is(logout.cookies.find((c) => c.name === SESSION_COOKIE)?.value, '', 'the cookie is cleared');
  const fresh = await app(t, setup);
  // CouchDB answers a cookie it cannot parse with 400, a well-formed one it did not sign with "nobody": both are no session.
  const malformed = await call(fresh, 'GET', '/api/v1/status', {cookies: {[SESSION_COOKIE]: 'forged'}});
  t.deepEqual([malformed.status, malformed.body.error], [401, 'unauthorized'], 'a malformed cookie');
  const wellFormed = Buffer.from(`${alice.name}:${Math.floor(Date.now() / 1000).toString(16).toUpperCase()}:${'x'.repeat(20)}`).toString('base64url');
  const forged = await call(fresh, 'GET', '/api/v1/status', {cookies: {[SESSION_COOKIE]: wellFormed}});
  t.deepEqual([forged.status, forged.body.error], [401, 'unauthorized'], 'a well-formed forged cookie');
});

type Answer = Awaited<ReturnType<typeof call>>;

/**
 * Make wrong attempts (1, 2, ...) until one is refused with 429, each before it 401; at most ten.
 * The refusal is edw's own limit at the tenth, or, on a real CouchDB (3.4+ locks a user out after 5
 * failed logins by default), the database server's lockout, which may come first.
 */
async function failUntilRefused(t: ExecutionContext, attempt: (i: number) => Promise<Answer>): Promise<Answer> {
  for (let i = 1; i <= 10; i++) {
    const answer = await attempt(i);
    if (answer.status === 429) {
      t.is(answer.body.error, 'too_many_requests');
      if (i < 10) {
        t.is(ENGINE, 'couchdb', `refused at attempt ${i}: only a real CouchDB locks out before edw's tenth`);
        t.is(answer.body.message, 'the database server has locked this account for a while after repeated wrong passwords: try again in a few minutes');
      } else {
        t.regex(answer.body.message, /^too many failed logins from this address: try again in \d+ s$/);
      }
      return answer;
    }
    t.is(answer.status, 401, `attempt ${i}`);
  }
  t.fail('ten wrong passwords were not refused with 429');
  throw new Error('not refused');
}

test('the tenth wrong password in a minute is refused with 429 (or earlier, the server\'s own lockout), and then even the right one; Basic attempts count the same', async (t) => {
  const setup = await setUp(t);
  const api = await app(t, setup);
  const {bob, carol} = setup.users;
  await failUntilRefused(t, (i) => call(api, 'POST', '/api/v1/session', {body: {name: bob.name, password: `wrong-${i}`}}));
  t.is((await call(api, 'POST', '/api/v1/session', {body: {name: bob.name, password: bob.password}})).status, 429);
  t.is((await call(api, 'GET', '/api/v1/status', {headers: {authorization: basic({...bob, password: 'wrong'})}})).status, 429, 'a new Basic credential is a login attempt too');

  // Another user on a fresh edw (its count starts at nought; a real CouchDB has not locked carol).
  const other = await app(t, setup);
  await failUntilRefused(t, (i) => call(other, 'GET', '/api/v1/status', {headers: {authorization: basic({...carol, password: `wrong-${i}`})}}));
  t.is((await call(other, 'POST', '/api/v1/session', {body: {name: carol.name, password: carol.password}})).status, 429, 'the right password after it too');
});

/**
 * Ten wrong logins from `client` (through the proxy at 10.0.0.5), each with a name no server knows,
 * so that a real CouchDB's lockout of a user cannot come first: edw's limit refuses the tenth.
 */
async function failFromClient(t: ExecutionContext, api: FastifyInstance, client: string): Promise<void> {
  const suffix = randomBytes(4).toString('hex');
  for (let i = 1; i <= 10; i++) {
    const answer = await call(api, 'POST', '/api/v1/session', {remoteAddress: '10.0.0.5', headers: {'x-forwarded-for': client}, body: {name: `nobody-${suffix}-${i}`, password: 'wrong'}});
    t.is(answer.status, i < 10 ? 401 : 429, `attempt ${i} from ${client}`);
  }
}

test('behind a trusted proxy ([serve] trust_proxy) two clients named by X-Forwarded-For are limited apart; without the setting the header is ignored and they share the proxy\'s count', async (t) => {
  const setup = await setUp(t);
  const {alice} = setup.users;
  const login = {body: {name: alice.name, password: alice.password}, remoteAddress: '10.0.0.5'};
  const trusted = await app(t, setup, silentLogger(), ['10.0.0.0/8']);
  await failFromClient(t, trusted, '192.0.2.1');
  t.is((await call(trusted, 'POST', '/api/v1/session', {...login, headers: {'x-forwarded-for': '192.0.2.1'}})).status, 429, 'the client that failed is refused');
  t.is((await call(trusted, 'POST', '/api/v1/session', {...login, headers: {'x-forwarded-for': '192.0.2.2'}})).status, 200, 'another client behind the proxy logs in');

  const untrusting = await app(t, setup);
  await failFromClient(t, untrusting, '192.0.2.1');
  t.is((await call(untrusting, 'POST', '/api/v1/session', {...login, headers: {'x-forwarded-for': '192.0.2.2'}})).status, 429, 'the header ignored: one count for the proxy');
});

test('on the embedded database reading needs no login, a POST without the operator token is 401, and there is no login', async (t) => {
  const store = await backends[0]!.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await store.bulkWrite([failedDoc('f-1')]);
  const api = await createApp({store, chain: CHAIN, log: silentLogger(), operatorToken: TOKEN});
  t.teardown(() => api.close());
  t.is((await call(api, 'GET', '/api/v1/status')).status, 200);
  t.like((await call(api, 'GET', '/api/v1/session')).body, {via: 'none', reader: true, operator: false});
  const post = await call(api, 'POST', '/api/v1/retry', {body: {ids: ['f-1']}});
  t.is(post.status, 401);
  t.true(await failedStill(store, 'f-1'));
  const login = await call(api, 'POST', '/api/v1/session', {body: {name: 'x', password: 'y'}});
  t.deepEqual([login.status, login.body.message], [400, 'the embedded database has no users: reading needs no login, and changes need the operator token']);
  t.is((await call(api, 'POST', '/api/v1/retry', {headers: {authorization: `Bearer ${TOKEN}`}, body: {ids: ['f-1']}})).body.retried, 1);
});

test('no password, session cookie or token appears in any log line of edw serve at debug level or of the database server, through logins right and wrong', async (t) => {
  const setup = await setUp(t);
  const lines: string[] = [];
  const sink = new Writable({write(chunk: Buffer, _e, done) {
    lines.push(chunk.toString('utf8'));
    done();
  }});
  const api = await app(t, setup, createLogger({level: 'debug', format: 'json', stream: sink}));
  const {alice, bob} = setup.users;
  const secrets = [alice.password, bob.password, ADMIN.password, TOKEN];
  const login = await call(api, 'POST', '/api/v1/session', {body: {name: alice.name, password: alice.password}});
  const session = login.cookies.find((c) => c.name === SESSION_COOKIE)!.value;
  secrets.push(session, login.body.csrf_token);
  await call(api, 'POST', '/api/v1/session', {body: {name: bob.name, password: `${bob.password}x`}});
  await call(api, 'GET', '/api/v1/status', {headers: {authorization: basic(bob)}});
  await call(api, 'POST', '/api/v1/retry', {cookies: {[SESSION_COOKIE]: session}, body: {ids: ['f-1']}});

  // The command, as an operator runs it: its own credentials from the environment, debug logging.
  const ws = await workspace(t, {databaseUrl: setup.dbUrl.replace(/\/\/[^@]*@/, '//'), ini: '[log]\nlevel = debug\n'});
  const serve = spawnEdw(['--config', ws.configPath, '--debug', 'serve', '--port', '0'], {EDW_DB_USER: ADMIN.name, EDW_DB_PASSWORD: ADMIN.password, EDW_OPERATOR_TOKEN: TOKEN});
  t.teardown(() => serve.child.kill('SIGKILL'));
  const url = /on (http:\S+) /.exec(await serve.waitFor(/^serving /))![1]!;
  const post = (body: unknown, headers: Record<string, string> = {}) => fetch(`${url}/api/v1/session`, {method: 'POST', headers: {'content-type': 'application/json', ...headers}, body: JSON.stringify(body)});
  const served = await post({name: alice.name, password: alice.password});
  t.is(served.status, 200);
  const cookie = served.headers.getSetCookie().map((c) => c.split(';')[0]).join('; ');
  secrets.push(...served.headers.getSetCookie().map((c) => c.split(';')[0]!.split('=')[1]!));
  t.is((await post({name: bob.name, password: 'not-it'})).status, 401);
  t.is((await fetch(`${url}/api/v1/status`, {headers: {cookie}})).status, 200);
  t.is((await fetch(`${url}/api/v1/status`, {headers: {authorization: basic(bob)}})).status, 200);
  t.is((await fetch(`${url}/api/v1/retry`, {method: 'POST', headers: {cookie, 'content-type': 'application/json'}, body: '{"ids":["f-2"]}'})).status, 403);
  t.is((await fetch(`${url}/api/v1/retry`, {method: 'POST', headers: {authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json'}, body: '{"ids":["f-2"]}'})).status, 200);
  serve.child.kill('SIGTERM');
  await serve.exit;

  // Every log the run wrote: edw serve's (in process and as a command, at debug), and the database
  // server's (pouchdb-server's whole stderr and its log.txt). A real CouchDB's log is not ours to read.
  const serverLogs = await setup.server.logs();
  if (serverLogs === null) t.log(`the database server's own log is not read: ${setup.server.location} is a CouchDB this test did not start`);
  else t.regex(serverLogs, /_session/, "the database server's log has the logins (so the check has something to look at)");
  const logs = [...lines, ...serve.stderr, ...serve.stdout, serverLogs ?? ''].join('\n');
  t.true(lines.some((l) => l.includes('login refused')), 'the log has lines about logins (so the check has something to look at)');
  t.true(serve.stderr.some((l) => l.includes('request')), 'edw serve logged its requests');
  for (const secret of secrets) t.false(logs.includes(secret), `a secret of ${secret.length} characters is in a log line`);
});
