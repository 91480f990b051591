import {existsSync} from 'node:fs';
import {subscribe, unsubscribe} from 'node:diagnostics_channel';
import {createServer, type ServerResponse} from 'node:http';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {AuthError, ConfigError, ConflictError, NotFoundError, UnavailableError} from '../lib/errors/index.js';
import {openStore, SHARE_FILE, type Doc, type Store} from '../lib/store/index.js';
import {backends, forEachBackend, testServer} from './helpers/backends.js';
import {findFreePort, startCouchServer} from './helpers/couch-server.js';

/** A design document with a `_count` view keyed [kind, n], a plain view keyed kind, and a filter by kind. */
const DESIGN: Doc = {
  _id: '_design/t',
  views: {
    by_kind_n: {map: 'function (doc) { if (doc.kind) emit([doc.kind, doc.n], doc.n); }', reduce: '_count'},
    by_kind: {map: 'function (doc) { if (doc.kind) emit(doc.kind, null); }'},
  },
  filters: {x: 'function (doc, req) { return doc.kind === req.query.kind; }'},
};

const KINDS: Doc[] = [
  {_id: 'a1', kind: 'a', n: 1},
  {_id: 'a2', kind: 'a', n: 2},
  {_id: 'a3', kind: 'a', n: 3},
  {_id: 'b1', kind: 'b', n: 1},
  {_id: 'b2', kind: 'b', n: 2},
];

async function writeAll(store: Store, docs: Doc[]): Promise<void> {
  const outcomes = await store.bulkWrite(docs);
  if (!outcomes.every((o) => o.ok)) throw new Error(`setup write failed: ${JSON.stringify(outcomes)}`);
}

const ids = (page: {results: Array<{id: string}>}): string[] => page.results.map((c) => c.id).sort();

test('an empty database location is refused, not resolved to the working directory', async (t) => {
  await t.throwsAsync(openStore({url: '', create: true}), {instanceOf: ConfigError, message: /database location is empty/});
  await t.throwsAsync(openStore({url: '  ', create: true}), {instanceOf: ConfigError});
});

forEachBackend((backend) => {
  test(`${backend.name}: a missing database is NotFoundError without create, and create() answers the same on every call`, async (t) => {
    const url = await backend.freshUrl(t);
    await t.throwsAsync(openStore({url}), {instanceOf: NotFoundError});
    const store = await backend.open(t, {url, create: true});
    await store.put({_id: 'kept', v: 1});
    t.true(await store.create());
    t.true(await store.create());
    t.like(await store.get('kept'), {_id: 'kept', v: 1});
    // A store that finds the database in place did not create it. (LevelDB: one handle per folder.)
    if (backend.name === 'embedded') await store.close();
    const again = await backend.open(t, {url, create: true});
    t.false(await again.create());
    t.false(await again.create());
    t.like(await again.get('kept'), {_id: 'kept', v: 1});
    t.is((await again.info()).docCount, 1);
  });

  test(`${backend.name}: a missing document reads as null`, async (t) => {
    const store = await backend.open(t);
    t.is(await store.get('nope'), null);
  });

  test(`${backend.name}: a document put is read back with the revision put returned`, async (t) => {
    const store = await backend.open(t);
    const rev = await store.put({_id: 'doc', nested: {list: [1, 'two', null]}, n: 1.5});
    t.deepEqual(await store.get('doc'), {_id: 'doc', _rev: rev, nested: {list: [1, 'two', null]}, n: 1.5});
    const rev2 = await store.put({_id: 'doc', _rev: rev, n: 2});
    t.not(rev2, rev);
    t.deepEqual(await store.get('doc'), {_id: 'doc', _rev: rev2, n: 2});
  });

  test(`${backend.name}: a put with a stale _rev, or none on an existing document, throws ConflictError and changes nothing`, async (t) => {
    const store = await backend.open(t);
    const first = await store.put({_id: 'doc', v: 1});
    const second = await store.put({_id: 'doc', _rev: first, v: 2});
    await t.throwsAsync(store.put({_id: 'doc', _rev: first, v: 3}), {instanceOf: ConflictError});
    await t.throwsAsync(store.put({_id: 'doc', v: 4}), {instanceOf: ConflictError});
    t.deepEqual(await store.get('doc'), {_id: 'doc', _rev: second, v: 2});
  });

  test(`${backend.name}: bulkWrite gives each document its own outcome, one conflict among successes`, async (t) => {
    const store = await backend.open(t);
    const stale = await store.put({_id: 'b', v: 1});
    const current = await store.put({_id: 'b', _rev: stale, v: 2});
    const outcomes = await store.bulkWrite([{_id: 'a', v: 1}, {_id: 'b', _rev: stale, v: 3}, {_id: 'c', v: 1}]);
    t.is(outcomes.length, 3);
    t.like(outcomes[0], {id: 'a', ok: true});
    t.like(outcomes[1], {id: 'b', ok: false, error: 'conflict'});
    t.like(outcomes[2], {id: 'c', ok: true});
    const [a, b, c] = await store.getMany(['a', 'b', 'c']);
    t.is(a?._rev, outcomes[0]!.ok ? outcomes[0]!.rev : undefined);
    t.deepEqual(b, {_id: 'b', _rev: current, v: 2});
    t.is(c?._rev, outcomes[2]!.ok ? outcomes[2]!.rev : undefined);
  });

  test(`${backend.name}: getMany returns null in place of a missing or deleted document, in the order asked`, async (t) => {
    const store = await backend.open(t);
    await writeAll(store, [{_id: 'x', v: 'x'}, {_id: 'y', v: 'y'}]);
    const gone = await store.put({_id: 'gone'});
    await store.put({_id: 'gone', _rev: gone, _deleted: true});
    const docs = await store.getMany(['y', 'missing', 'x', 'gone']);
    t.deepEqual(docs.map((d) => d?.v ?? null), ['y', null, 'x', null]);
    t.deepEqual(await store.getMany([]), []);
    t.is(await store.get('gone'), null);
  });

  test(`${backend.name}: changes from '0' return every document with string seqs, and nothing new from lastSeq`, async (t) => {
    const store = await backend.open(t);
    await writeAll(store, KINDS);
    const gone = await store.put({_id: 'gone'});
    await store.put({_id: 'gone', _rev: gone, _deleted: true});
    const page = await store.changes({since: '0', includeDocs: true});
    t.deepEqual(ids(page), ['a1', 'a2', 'a3', 'b1', 'b2', 'gone']);
    for (const change of page.results) t.is(typeof change.seq, 'string');
    t.is(typeof page.lastSeq, 'string');
    t.true(page.results.find((c) => c.id === 'gone')?.deleted);
    t.like(page.results.find((c) => c.id === 'a2')?.doc, {_id: 'a2', kind: 'a', n: 2});
    const again = await store.changes({since: page.lastSeq});
    t.deepEqual(again.results, []);
    t.is(typeof again.lastSeq, 'string');
    // Paging with limit reaches the same documents.
    const first = await store.changes({since: '0', limit: 4});
    t.is(first.results.length, 4);
    const rest = await store.changes({since: first.lastSeq, limit: 4});
    t.deepEqual([...ids(first), ...ids(rest)].sort(), ['a1', 'a2', 'a3', 'b1', 'b2', 'gone']);
  });

  test(`${backend.name}: a long-poll returns once another writer writes a document`, async (t) => {
    t.timeout(20_000, 'the long-poll was not woken by the write');
    const url = await backend.freshUrl(t);
    const store = await backend.open(t, {url});
    const writer = await backend.openOther(t, url, store);
    await store.put({_id: 'before'});
    const {lastSeq} = await store.changes({since: '0'});
    const polling = store.changes({since: lastSeq, waitMs: 60_000, includeDocs: true});
    await writer.info(); // a round trip, so the poll is most likely parked before the write
    await writer.put({_id: 'late', v: 1});
    const page = await polling;
    t.deepEqual(ids(page), ['late']);
    t.like(page.results[0]?.doc, {_id: 'late', v: 1});
    t.deepEqual((await store.changes({since: page.lastSeq})).results, []);
  });

  // pouchdb-server ignores `timeout` on feed=longpoll (express-pouchdb routes/changes.js) and holds an
  // idle long-poll until a change comes: CouchStore answers it with an empty page after a short grace.
  test(`${backend.name}: a long-poll with nothing written returns an empty page with a lastSeq`, async (t) => {
    const store = await backend.open(t);
    await store.put({_id: 'only'});
    const {lastSeq} = await store.changes({since: '0'});
    const page = await store.changes({since: lastSeq, waitMs: 200});
    t.deepEqual(page.results, []);
    t.is(typeof page.lastSeq, 'string');
    t.not(page.lastSeq, '');
    t.deepEqual((await store.changes({since: page.lastSeq})).results, []);
  });

  test(`${backend.name}: a design-document filter selects changes by its query parameters, in a long-poll too`, async (t) => {
    t.timeout(20_000, 'the filtered long-poll was not woken by a matching write');
    const url = await backend.freshUrl(t);
    const store = await backend.open(t, {url});
    const writer = await backend.openOther(t, url, store);
    await store.put(DESIGN);
    await writeAll(store, KINDS);
    const filter = (kind: string) => ({name: 't/x', params: {kind}});
    const b = await store.changes({since: '0', filter: filter('b')});
    t.deepEqual(ids(b), ['b1', 'b2']);
    t.deepEqual(ids(await store.changes({since: '0', filter: filter('a')})), ['a1', 'a2', 'a3']);
    t.deepEqual((await store.changes({since: '0', filter: filter('none')})).results, []);
    // A filtered long-poll passes over a write that does not match and returns the one that does.
    const {lastSeq} = await store.changes({since: '0'});
    const polling = store.changes({since: lastSeq, filter: filter('a'), waitMs: 60_000});
    await writer.info();
    await writer.put({_id: 'b3', kind: 'b', n: 3});
    await writer.put({_id: 'a4', kind: 'a', n: 4});
    t.deepEqual(ids(await polling), ['a4']);
  });

  // A filtered feed may match nothing for hours (apache/couchdb issues 5224, 6120): its position must
  // still move on from each answer's last_seq, or a restart re-scans everything skipped since.
  test(`${backend.name}: a filtered long-poll that matches nothing moves its position past the writes it skipped`, async (t) => {
    const store = await backend.open(t);
    await store.put(DESIGN);
    const {lastSeq: before} = await store.changes({since: '0'});
    await writeAll(store, KINDS);
    const page = await store.changes({since: before, filter: {name: 't/x', params: {kind: 'none'}}, waitMs: 200});
    t.deepEqual(page.results, []);
    t.not(page.lastSeq, before);
    // From the new position, the writes already skipped are behind: a write after them is all that comes.
    await store.put({_id: 'a9', kind: 'a', n: 9});
    t.deepEqual(ids(await store.changes({since: page.lastSeq})), ['a9']);
  });

  test(`${backend.name}: a view answers key ranges, _count reduce with group_level, and include_docs`, async (t) => {
    const store = await backend.open(t);
    await store.put(DESIGN);
    await writeAll(store, KINDS);
    const range = await store.query({design: 't', view: 'by_kind_n', startkey: ['a'], endkey: ['a', {}], reduce: false});
    t.deepEqual(range.rows.map((r) => [r.id, r.key, r.value]), [['a1', ['a', 1], 1], ['a2', ['a', 2], 2], ['a3', ['a', 3], 3]]);
    const exclusive = await store.query({design: 't', view: 'by_kind_n', startkey: ['a'], endkey: ['a', 3], inclusiveEnd: false, reduce: false});
    t.deepEqual(exclusive.rows.map((r) => r.id), ['a1', 'a2']);
    const descending = await store.query({design: 't', view: 'by_kind_n', startkey: ['b', {}], endkey: ['b'], descending: true, reduce: false});
    t.deepEqual(descending.rows.map((r) => r.id), ['b2', 'b1']);
    const grouped = await store.query({design: 't', view: 'by_kind_n', groupLevel: 1});
    t.deepEqual(grouped.rows.map((r) => [r.key, r.value]), [[['a'], 3], [['b'], 2]]);
    const total = await store.query({design: 't', view: 'by_kind_n'});
    t.deepEqual(total.rows.map((r) => r.value), [5]);
    const withDocs = await store.query({design: 't', view: 'by_kind_n', key: ['b', 2], reduce: false, includeDocs: true});
    t.is(withDocs.rows.length, 1);
    t.like(withDocs.rows[0]?.doc, {_id: 'b2', kind: 'b', n: 2});
    const paged = await store.query({design: 't', view: 'by_kind', startkey: 'a', limit: 2, skip: 1});
    t.deepEqual(paged.rows.map((r) => r.id), ['a2', 'a3']);
  });

  test(`${backend.name}: a query with update false answers from the index as it stands; the next default query indexes what it missed`, async (t) => {
    const store = await backend.open(t);
    await store.put(DESIGN);
    await writeAll(store, KINDS);
    t.deepEqual((await store.query({design: 't', view: 'by_kind', key: 'a'})).rows.map((r) => r.id), ['a1', 'a2', 'a3']);
    await store.put({_id: 'a4', kind: 'a', n: 4});
    const stale = await store.query({design: 't', view: 'by_kind', key: 'a', update: false, includeDocs: true});
    // Everything indexed before is there, with its current document.
    t.deepEqual(stale.rows.slice(0, 3).map((r) => [r.id, r.doc?.n]), [['a1', 1], ['a2', 2], ['a3', 3]]);
    // PouchDB indexes only when asked; a real CouchDB may have indexed a4 in the background meanwhile.
    if (backend.engine !== 'couchdb') t.is(stale.rows.length, 3);
    t.deepEqual((await store.query({design: 't', view: 'by_kind', key: 'a'})).rows.map((r) => r.id), ['a1', 'a2', 'a3', 'a4']);
  });

  test(`${backend.name}: a query of a missing view is NotFoundError`, async (t) => {
    const store = await backend.open(t);
    await t.throwsAsync(store.query({design: 'nope', view: 'none'}), {instanceOf: NotFoundError});
    await store.put(DESIGN);
    await t.throwsAsync(store.query({design: 't', view: 'none'}), {instanceOf: NotFoundError});
  });

  test(`${backend.name}: a _local document round-trips, is replaced by the next write, and stays out of the changes feed`, async (t) => {
    const store = await backend.open(t);
    t.is(await store.getLocal('checkpoint'), null);
    await store.putLocal('checkpoint', {seq: '1-abc', count: 1, extra: true});
    t.deepEqual(await store.getLocal('checkpoint'), {seq: '1-abc', count: 1, extra: true});
    await store.putLocal('checkpoint', {seq: '2-def', count: 2});
    t.deepEqual(await store.getLocal('checkpoint'), {seq: '2-def', count: 2});
    await store.put({_id: 'plain'});
    t.deepEqual(ids(await store.changes({since: '0'})), ['plain']);
    t.is((await store.info()).docCount, 1);
  });

  test(`${backend.name}: a _local document written meanwhile by another writer is still replaced by the next write`, async (t) => {
    const store = await backend.open(t);
    await store.putLocal('counts', {seq: '1', by: 'this'});
    // Another process's write: the revision this store last wrote is not the current one any more.
    const current = await store.get('_local/counts');
    await store.put({_id: '_local/counts', _rev: current!._rev, seq: '2', by: 'other'});
    await store.putLocal('counts', {seq: '3', by: 'this'});
    t.deepEqual(await store.getLocal('counts'), {seq: '3', by: 'this'});
    await store.putLocal('counts', {seq: '4', by: 'this'});
    t.deepEqual(await store.getLocal('counts'), {seq: '4', by: 'this'});
  });

  test(`${backend.name}: a revision written as replication would makes a conflict that get, changes and query show with conflicts: true`, async (t) => {
    const store = await backend.open(t);
    await store.put(DESIGN);
    const first = await store.put({_id: 'c', kind: 'a', n: 1});
    const winner = await store.put({_id: 'c', _rev: first, kind: 'a', n: 2});
    // A sibling of the winner on another branch from the first revision. Its hash sorts lowest, so
    // the deterministic winner (highest generation, then highest hash) stays ours.
    const loser = `2-${'0'.repeat(32)}`;
    await store.writeRevisions([{_id: 'c', _rev: loser, kind: 'a', n: -2, _revisions: {start: 2, ids: ['0'.repeat(32), first.split('-')[1]!]}}]);
    const doc = await store.get('c', {conflicts: true});
    t.like(doc, {_rev: winner, n: 2});
    t.deepEqual(doc?._conflicts, [loser]);
    t.is((await store.get('c'))?._conflicts, undefined);
    t.like(await store.get('c', {rev: loser}), {_rev: loser, n: -2});
    const page = await store.changes({since: '0', includeDocs: true, conflicts: true});
    t.deepEqual(page.results.find((c) => c.id === 'c')?.doc?._conflicts, [loser]);
    const rows = await store.query({design: 't', view: 'by_kind', key: 'a', includeDocs: true, conflicts: true});
    t.deepEqual(rows.rows.map((r) => [r.id, r.doc?._conflicts]), [['c', [loser]]]);
  });
});

const server = backends.find((b) => b.name === 'server')!;
const embedded = backends.find((b) => b.name === 'embedded')!;

/** A user in the server's _users database, removed on teardown. */
async function serverUser(t: ExecutionContext, password: string): Promise<string> {
  const couch = await testServer();
  const name = `edw_test_user_${process.pid}_${Math.random().toString(36).slice(2, 8)}`;
  const path = `_users/${encodeURIComponent(`org.couchdb.user:${name}`)}`;
  const user = {name, password, roles: [], type: 'user'};
  let created = await couch.request('PUT', path, user);
  if (created.status === 404) {
    // A CouchDB set up as a single node without `_users`: create it (pouchdb-server always has one).
    await couch.request('PUT', '_users');
    created = await couch.request('PUT', path, user);
  }
  if (created.status !== 201 && created.status !== 202) throw new Error(`could not create test user: HTTP ${created.status} ${JSON.stringify(created.body)}`);
  t.teardown(async () => {
    const current = await couch.request('GET', path);
    if (current.status === 200) await couch.request('DELETE', `${path}?rev=${encodeURIComponent(current.body._rev)}`);
  });
  return name;
}

test('server: a wrong password gives AuthError whose message holds neither password', async (t) => {
  const password = 'right-horse-battery';
  const wrong = 'wrong-staple-9f3k';
  const user = await serverUser(t, password);
  const url = await server.freshUrl(t);
  await server.open(t, {url}); // the database exists: the refusal is about the credentials
  const viaOptions = await t.throwsAsync(openStore({url, user, password: wrong}), {instanceOf: AuthError});
  const withCredentials = new URL(url);
  withCredentials.username = user;
  withCredentials.password = wrong;
  const viaUrl = await t.throwsAsync(openStore({url: withCredentials.href}), {instanceOf: AuthError});
  for (const error of [viaOptions, viaUrl]) {
    t.false(error!.message.includes(wrong), error!.message);
    t.false(error!.message.includes(password), error!.message);
    t.regex(error!.message, new RegExp(user));
  }
});

// Only a pouchdb-server this helper started can be restarted (canRestart is false for EDW_TEST_COUCHDB_URL).
const restartable = server.engine === 'pouchdb-server' ? test : test.skip;
restartable('server: an on-disk test server keeps its databases across a restart, and an open store reads them again', async (t) => {
  const couch = await startCouchServer({onDisk: true});
  t.teardown(() => couch.stop());
  t.true(couch.canRestart);
  const store = await openStore({url: couch.databaseUrl(), create: true});
  t.teardown(() => store.close());
  await store.put({_id: 'kept', v: 1});
  const pid = couch.pid;
  await couch.restart();
  t.not(couch.pid, pid);
  t.like(await store.get('kept'), {v: 1});
  await store.put({_id: 'after'});
  t.deepEqual(ids(await store.changes({since: '0'})), ['after', 'kept']);
  await couch.stop();
  t.is(couch.pid, undefined);
  await couch.stop(); // idempotent
  await t.throwsAsync(couch.restart(), {message: /was stopped/});
});

test('an unreachable server gives UnavailableError naming host:port and never the password', async (t) => {
  const port = await findFreePort(); // free now, so nothing listens there
  const secret = 'secret-in-url-7hq2';
  const viaUrl = await t.throwsAsync(openStore({url: `http://edw:${secret}@127.0.0.1:${port}/edw`}), {instanceOf: UnavailableError});
  const viaOptions = await t.throwsAsync(openStore({url: `http://127.0.0.1:${port}/edw`, user: 'edw', password: secret}), {instanceOf: UnavailableError});
  for (const error of [viaUrl, viaOptions]) {
    t.true(error!.message.includes(`127.0.0.1:${port}`), error!.message);
    t.false(error!.message.includes(secret), error!.message);
  }
});

test('a shared embedded database serves put, get, query and changes (long-poll too) until its holder closes', async (t) => {
  t.timeout(30_000, 'a long-poll through the shared store was not woken');
  const url = await embedded.freshUrl(t);
  const holder = await embedded.open(t, {url, share: true});
  t.is(holder.kind, 'embedded');
  t.true(existsSync(join(url, SHARE_FILE)));

  const shared = await openStore({url});
  t.teardown(() => shared.close());
  t.is(shared.kind, 'shared');
  await shared.put(DESIGN);
  await writeAll(shared, KINDS);
  const rev = await shared.put({_id: 'doc', v: 1});
  t.deepEqual(await shared.get('doc'), {_id: 'doc', _rev: rev, v: 1});
  t.is(await shared.get('missing'), null);
  await t.throwsAsync(shared.put({_id: 'doc', v: 2}), {instanceOf: ConflictError});
  t.like(await holder.get('doc'), {_rev: rev, v: 1});
  t.deepEqual((await shared.getMany(['a1', 'missing'])).map((d) => d?._id ?? null), ['a1', null]);
  const grouped = await shared.query({design: 't', view: 'by_kind_n', groupLevel: 1});
  t.deepEqual(grouped.rows.map((r) => [r.key, r.value]), [[['a'], 3], [['b'], 2]]);
  await t.throwsAsync(shared.query({design: 't', view: 'none'}), {instanceOf: NotFoundError});
  await shared.putLocal('cp', {seq: '7'});
  t.deepEqual(await shared.getLocal('cp'), {seq: '7'});

  const all = await shared.changes({since: '0'});
  t.deepEqual(ids(all), ['_design/t', 'a1', 'a2', 'a3', 'b1', 'b2', 'doc']);
  t.deepEqual(ids(await shared.changes({since: '0', filter: {name: 't/x', params: {kind: 'b'}}})), ['b1', 'b2']);
  const polling = shared.changes({since: all.lastSeq, waitMs: 60_000, includeDocs: true});
  await shared.info(); // a round trip, so the poll is most likely parked before the write
  await holder.put({_id: 'from-holder', v: 2});
  const page = await polling;
  t.deepEqual(ids(page), ['from-holder']);
  t.like(page.results[0]?.doc, {v: 2});
  const idle = await shared.changes({since: page.lastSeq, waitMs: 200});
  t.deepEqual(idle.results, []);

  await holder.close();
  t.false(existsSync(join(url, SHARE_FILE)));
  await t.throwsAsync(shared.get('doc'), {instanceOf: UnavailableError});
  const direct = await openStore({url});
  t.teardown(() => direct.close());
  t.is(direct.kind, 'embedded');
  t.like(await direct.get('from-holder'), {v: 2});
});

/**
 * An HTTP server that answers `GET /db` as a CouchDB database would, and answers `_changes` with
 * its headers and the start of a body, then goes silent: what a feed connection can look like after
 * the server behind it restarted. Not a database: it stands for a broken connection.
 * `changesHeaders` resolves when this process's fetch has received the headers of a `_changes` answer.
 */
async function stallingServer(t: ExecutionContext, options: {cut?: boolean} = {}): Promise<{url: string; changesHeaders: Promise<void>}> {
  const open = new Set<ServerResponse>();
  const server = createServer((req, res) => {
    open.add(res);
    res.on('close', () => open.delete(res));
    res.writeHead(200, {'content-type': 'application/json'});
    // With `cut`, the connection breaks after the start of the body instead (a server killed mid-answer).
    if (req.url?.startsWith('/db/_changes')) res.write('{"results":[\n', () => (options.cut ? res.destroy() : undefined));
    else res.end(JSON.stringify({db_name: 'db', doc_count: 0, update_seq: '0'}));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const {port} = server.address() as {port: number};
  let received!: () => void;
  const changesHeaders = new Promise<void>((resolve) => {
    received = resolve;
  });
  // undici (Node's fetch, which nano uses) reports each response's headers on this channel.
  const onHeaders = (message: unknown): void => {
    const {request} = message as {request: {origin: string; path: string}};
    if (request.origin === `http://127.0.0.1:${port}` && request.path.startsWith('/db/_changes')) received();
  };
  subscribe('undici:request:headers', onHeaders);
  t.teardown(() => {
    unsubscribe('undici:request:headers', onHeaders);
    for (const res of open) res.destroy();
    server.closeAllConnections();
    return new Promise<void>((resolve) => server.close(() => resolve()));
  });
  return {url: `http://127.0.0.1:${port}/db`, changesHeaders};
}

test.serial('a changes request whose server goes silent after the headers fails with UnavailableError once requestTimeoutMs passes', async (t) => {
  const {url} = await stallingServer(t);
  const store = await openStore({url, requestTimeoutMs: 3000});
  t.teardown(() => store.close());
  // nano swallows an error while reading a body and resolves with '': this was a TypeError, which
  // no caller retries, instead of the retryable UnavailableError the timeout exists to produce.
  const error = await t.throwsAsync(store.changes({since: '0'}), {instanceOf: UnavailableError});
  t.regex(error!.message, /127\.0\.0\.1:\d+/);
});

test('a changes request whose connection breaks after the headers fails with UnavailableError', async (t) => {
  const {url} = await stallingServer(t, {cut: true});
  const store = await openStore({url});
  t.teardown(() => store.close());
  // nano resolves '' when the body cannot be read; this was a TypeError ('reading map') from changes().
  for (const waitMs of [0, 60_000]) {
    const error = await t.throwsAsync(store.changes({since: '0', waitMs}), {instanceOf: UnavailableError});
    t.regex(error!.message, /127\.0\.0\.1:\d+/);
  }
});

test.serial('a long-poll whose server goes silent is given up, and the normal read that follows it fails with UnavailableError', async (t) => {
  const {url} = await stallingServer(t);
  const store = await openStore({url, requestTimeoutMs: 3000});
  t.teardown(() => store.close());
  await t.throwsAsync(store.changes({since: 'opaque-42', waitMs: 100}), {instanceOf: UnavailableError, message: /no answer in time/});
});

test('a long-poll aborted by its signal after the headers arrived rejects with the signal\'s reason', async (t) => {
  const {url, changesHeaders} = await stallingServer(t);
  const store = await openStore({url});
  t.teardown(() => store.close());
  const controller = new AbortController();
  const polling = store.changes({since: '0', waitMs: 60_000, signal: controller.signal});
  await changesHeaders;
  await new Promise(setImmediate); // let nano start reading the body
  const reason = new Error('stop waiting');
  controller.abort(reason);
  await t.throwsAsync(polling, {is: reason});
});
