import {execFile} from 'node:child_process';
import {randomBytes} from 'node:crypto';
import {chmod, mkdir, mkdtemp, rm, stat, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {BIN} from './helpers/cli.js';
import {startCouchServer} from './helpers/couch-server.js';
import {holdEmbedded} from './helpers/hold.js';

interface Run {
  code: number;
  stdout: string;
  stderr: string[];
}

/** The compiled edw run in `cwd`, with no edw setting from this process's environment. */
function runEdw(args: string[], options: {cwd: string; env?: NodeJS.ProcessEnv; uid?: number; gid?: number}): Promise<Run> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([key]) => !key.startsWith('EDW_')));
  return new Promise((resolve) => {
    execFile(process.execPath, [BIN, ...args], {cwd: options.cwd, env: {...env, ...options.env}, uid: options.uid, gid: options.gid}, (error, stdout, stderr) => {
      const code = error ? (typeof error.code === 'number' ? error.code : -1) : 0;
      resolve({code, stdout, stderr: stderr.split('\n').filter(Boolean)});
    });
  });
}

async function tempDir(t: ExecutionContext): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'edw-storage-'));
  t.teardown(() => rm(dir, {recursive: true, force: true}));
  return dir;
}

test('edw init in a folder without data/ creates the missing folders of the embedded database', async (t) => {
  const dir = await tempDir(t);
  const result = await runEdw(['init'], {cwd: dir});
  t.is(result.code, 0, result.stderr.join('\n'));
  t.true((await stat(join(dir, 'data', 'edw'))).isDirectory());
  const nested = await runEdw(['init'], {cwd: dir, env: {EDW_DB_URL: './a/b/db'}});
  t.is(nested.code, 0, nested.stderr.join('\n'));
  t.true((await stat(join(dir, 'a', 'b', 'db'))).isDirectory());
  const status = await runEdw(['status', '--json'], {cwd: dir, env: {EDW_DB_URL: './a/b/db'}});
  t.is(status.code, 0, status.stderr.join('\n'));
});

test('a command other than init names a missing embedded database and the command that makes it', async (t) => {
  const dir = await tempDir(t);
  const result = await runEdw(['status'], {cwd: dir, env: {EDW_DB_URL: './nowhere/db'}});
  t.is(result.code, 1);
  t.deepEqual(result.stderr, [`edw: no database at ${join(dir, 'nowhere', 'db')} (run 'edw init' to create it)`]);
});

test('an embedded database path through a file is reported as such, naming the file (exit 2)', async (t) => {
  const dir = await tempDir(t);
  await writeFile(join(dir, 'notes'), 'a file');
  for (const command of ['init', 'status']) {
    const result = await runEdw([command], {cwd: dir, env: {EDW_DB_URL: './notes/db'}});
    t.is(result.code, 2, command);
    t.deepEqual(result.stderr, [`edw: cannot ${command === 'init' ? 'create' : 'open'} the embedded database ${join(dir, 'notes', 'db')}: ${join(dir, 'notes')} is a file, not a folder`], command);
  }
  const itself = await runEdw(['status'], {cwd: dir, env: {EDW_DB_URL: './notes'}});
  t.is(itself.code, 2);
  t.deepEqual(itself.stderr, [`edw: cannot open the embedded database ${join(dir, 'notes')}: ${join(dir, 'notes')} is a file, not a folder`]);
});

test('an embedded database this user may not write is reported as permission denied (exit 2)', async (t) => {
  const dir = await tempDir(t);
  await chmod(dir, 0o755);
  t.is((await runEdw(['init'], {cwd: dir})).code, 0);
  // root may write anywhere: run the command as nobody then; otherwise take the write bit away.
  const asRoot = process.getuid?.() === 0;
  if (!asRoot) await chmod(join(dir, 'data', 'edw'), 0o555);
  t.teardown(() => chmod(join(dir, 'data', 'edw'), 0o755));
  const user = asRoot ? {uid: 65534, gid: 65534} : {};
  const open = await runEdw(['status'], {cwd: dir, ...user});
  t.is(open.code, 2);
  t.is(open.stderr.length, 1);
  t.regex(open.stderr[0]!, new RegExp(`^edw: cannot open the embedded database ${join(dir, 'data', 'edw')}: permission denied on ${join(dir, 'data', 'edw')}`));
  await mkdir(join(dir, 'locked'), {mode: 0o555});
  const create = await runEdw(['init'], {cwd: dir, env: {EDW_DB_URL: './locked/sub/db'}, ...(asRoot ? user : {})});
  t.is(create.code, 2);
  t.regex(create.stderr[0]!, new RegExp(`^edw: cannot create the embedded database ${join(dir, 'locked', 'sub', 'db')}: permission denied on ${join(dir, 'locked')}`));
});

test('an embedded database held by another process names that process by its pid', async (t) => {
  const dir = await tempDir(t);
  t.is((await runEdw(['init'], {cwd: dir})).code, 0);
  const holder = await holdEmbedded(join(dir, 'data', 'edw'));
  t.teardown(() => holder.close());
  const result = await runEdw(['status'], {cwd: dir});
  t.is(result.code, 1);
  t.is(result.stderr.length, 1);
  t.regex(result.stderr[0]!, new RegExp(`^edw: the embedded database ${join(dir, 'data', 'edw')} is held by another process that does not share it \\(pid ${process.pid}[,;]`));
});

// CouchDB 3.4+ locks a user for a while after 5 wrong passwords from one address ([chttpd_auth_lockout]);
// pouchdb-server has no lockout, so this runs only on the real CouchDB named by EDW_TEST_COUCHDB_URL.
const couchUrl = process.env.EDW_TEST_COUCHDB_URL;
(couchUrl ? test : test.skip)('edw\'s own database user locked by CouchDB after wrong passwords gets one line naming the server and the user, saying it clears by itself (real CouchDB only: pouchdb-server has no lockout)', async (t) => {
  const server = await startCouchServer();
  t.teardown(() => server.stop());
  const user = {name: `edw-locked-${randomBytes(4).toString('hex')}`, password: `pw-${randomBytes(8).toString('hex')}`};
  const userId = `org.couchdb.user:${user.name}`;
  t.is((await server.request('PUT', `_users/${encodeURIComponent(userId)}`, {_id: userId, name: user.name, password: user.password, roles: [], type: 'user'})).status, 201);
  t.teardown(async () => {
    const doc = await server.request('GET', `_users/${encodeURIComponent(userId)}`);
    if (doc.status === 200) await server.request('DELETE', `_users/${encodeURIComponent(userId)}?rev=${doc.body._rev}`);
  });
  const adminDbUrl = server.databaseUrl('edw-lockout');
  const dbUrl = new URL(adminDbUrl);
  const db = dbUrl.pathname.split('/').filter(Boolean).pop()!;
  t.is((await server.request('PUT', db)).status, 201);
  t.is((await server.request('PUT', `${db}/_security`, {admins: {names: [user.name], roles: []}, members: {names: [user.name], roles: []}})).status, 200);
  dbUrl.username = '';
  dbUrl.password = '';
  const dir = await tempDir(t);
  const env = {EDW_DB_URL: dbUrl.href, EDW_DB_USER: user.name, EDW_DB_PASSWORD: user.password};
  const init = await runEdw(['init'], {cwd: dir, env: {EDW_DB_URL: adminDbUrl}});
  t.is(init.code, 0, init.stderr.join('\n'));
  const before = await runEdw(['status'], {cwd: dir, env});
  t.is(before.code, 0, before.stderr.join('\n'));

  const basic = (password: string): string => `Basic ${Buffer.from(`${user.name}:${password}`).toString('base64')}`;
  let locked = false;
  for (let i = 0; i < 10 && !locked; i++) {
    const answer = await fetch(new URL(db, server.location), {headers: {authorization: basic(`wrong-${i}`)}});
    locked = answer.status === 403;
  }
  t.true(locked, 'CouchDB locked the user after wrong passwords (is [chttpd_auth_lockout] mode = enforce?)');

  const status = await runEdw(['status'], {cwd: dir, env});
  t.not(status.code, 0);
  t.deepEqual(status.stderr.length, 1, status.stderr.join('\n'));
  t.is(status.stderr[0], `edw: the database server ${server.location} has locked user ${user.name} after repeated wrong passwords (open database): `
    + "it clears by itself after CouchDB's lockout time ([chttpd_auth_lockout] lockout_timeout, 5 minutes by default); check the password edw is given");
  t.false(status.stderr[0]!.includes(user.password));
});
