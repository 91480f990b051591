/**
 * `edw serve`'s HTTP API, on every backend: each route answers what the library functions the CLI
 * uses answer, pages are stable, bad requests are `{error, message}` with their status, and
 * state-changing requests need the operator token. Requests go through fastify's own `inject`
 * (the whole request cycle, schemas and hooks included, without a socket); one test starts the
 * `edw serve` command and talks to it over HTTP.
 */
import {Validator} from '@seriousme/openapi-schema-validator';
import test, {type ExecutionContext} from 'ava';
import type {FastifyInstance} from 'fastify';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {eachDetection, listDocuments, statusCounts, type DocState} from '../lib/inspect/index.js';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {createApp, OPENAPI_PATH, routesOf} from '../lib/serve/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend, type Backend} from './helpers/backends.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}, {name: 'ingest_detections', after: 'signal_processing'}];
const STEPS = CHAIN.map((s) => s.name);
const NOW = Date.parse('2026-11-24T12:00:00Z');
const TOKEN = 'operator-token-0123456789abcdef';

function file(id: string, done: string[], extra: Partial<DataFileDoc> = {}): Doc {
  return {
    _id: id, status: 'good', run: id.startsWith('b-') ? 'run_b' : 'run_a', md5sum: 'x', original_file: `/raw/${id}`,
    process: done.map((name) => ({name, status: 'done', started: '2026-11-24T10:00:00Z', finished: '2026-11-24T10:00:01Z', host: 'daq1', version: '1', attempt: 1})),
    ...extra,
  } as Doc;
}
const failed = (step: string) => ({step, version: '1', attempts: 3, error: 'md5 mismatch', at: '2026-11-24T11:00:00Z'});
const retrying = (step: string) => ({step, version: '1', attempts: 1, next: NOW + 60_000, error: 'connection reset'});
const claim = (step: string) => ({step, version: '1', owner: 'h:1:a', host: 'h', pid: 1, token: 2, expires: NOW + 3_600_000, since: '2026-11-24T11:00:00Z'});
const detection = (source: string, trace: number, time: number, amplitude: number, run = 'run_a'): Doc =>
  ({_id: `detection:${source}:${trace}`, type: 'detection', source, run, channel: 'detector_a', trace, time, amplitude});

/** Documents in every state and row, detections over two hours, and two heartbeats. */
function fixture(): Doc[] {
  const failedEntry = {name: 'move_to_sps', status: 'failed', started: '2026-11-24T10:59:00Z', finished: '2026-11-24T11:00:00Z', host: 'daq1', version: '1', attempt: 3, error: {message: 'md5 mismatch', retryable: false}};
  return [
    ...['a', 'b', 'c', 'd', 'e'].map((x) => file(`new-${x}`, [])),
    file('b-new-f', []),
    file('new-failed-1', [], {process: [failedEntry], edw: {failed: failed('move_to_sps')}} as Partial<DataFileDoc>),
    file('new-failed-2', [], {edw: {failed: failed('move_to_sps')}}),
    file('new-retrying', [], {edw: {retry: retrying('move_to_sps')}}),
    file('new-claimed', [], {edw: {token: 2, claim: claim('move_to_sps')}}),
    file('new-bad', [], {status: 'bad'}),
    file('moved-1', ['move_to_sps']),
    file('moved-failed', ['move_to_sps'], {edw: {failed: failed('signal_processing')}}),
    file('done-1', STEPS),
    file('b-done-2', STEPS),
    ...[0, 1, 2, 3, 4, 5].map((i) => detection('done-1', i, 1000 + i * 600, 40 + i * 20)),
    detection('done-1', 6, 1000, 500),
    detection('b-done-2', 0, 4000, 70, 'run_b'),
    {_id: 'edw-listener:h:1:a', type: 'listener', owner: 'h:1:a', host: 'h', pid: 1, started: '2026-11-24T11:00:00Z', beat: new Date(NOW - 1000).toISOString(), beat_ms: NOW - 1000, interval_ms: 10_000, listeners: [], completed: 3, failed: 1},
    {_id: 'edw-listener:h:2:b', type: 'listener', owner: 'h:2:b', host: 'h', pid: 2, started: '2026-11-01T11:00:00Z', beat: '2026-11-01T12:00:00Z', beat_ms: NOW - 23 * 86_400_000, interval_ms: 10_000, stopped: '2026-11-01T12:00:00Z', listeners: [], completed: 0, failed: 0},
  ];
}

interface Api {
  app: FastifyInstance;
  store: Store;
  clock: {now: number};
  get(url: string): Promise<{status: number; body: any}>;
  post(url: string, body: unknown, token?: string): Promise<{status: number; body: any}>;
}

async function api(t: ExecutionContext, backend: Backend, options: {operatorToken?: string | null} = {}): Promise<Api> {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const outcomes = await store.bulkWrite(fixture());
  if (!outcomes.every((o) => o.ok)) throw new Error(`fixture: ${JSON.stringify(outcomes.filter((o) => !o.ok))}`);
  const clock = {now: NOW};
  const app = await createApp({
    store, chain: CHAIN, log: silentLogger(), now: () => clock.now, version: '0.1.0',
    ...(options.operatorToken === null ? {} : {operatorToken: options.operatorToken ?? TOKEN}),
  });
  t.teardown(() => app.close());
  const answer = (r: {statusCode: number; body: string}): {status: number; body: any} => ({status: r.statusCode, body: JSON.parse(r.body)});
  return {
    app, store, clock,
    get: async (url) => answer(await app.inject({method: 'GET', url})),
    post: async (url, body, token) => answer(await app.inject({method: 'POST', url, payload: body as object, headers: token ? {authorization: `Bearer ${token}`} : {}})),
  };
}

/** Every document id of a listing through the API, page by page. */
async function pageThrough(t: ExecutionContext, a: Api, query: string): Promise<{ids: string[]; pages: number}> {
  const ids: string[] = [];
  let cursor: string | null = null;
  let pages = 0;
  do {
    const {status, body} = await a.get(`/api/v1/documents?${query}${cursor ? `&cursor=${cursor}` : ''}`);
    t.is(status, 200, JSON.stringify(body));
    ids.push(...body.documents.map((d: {id: string}) => d.id));
    cursor = body.next;
    if (++pages > 50) throw new Error('no end');
  } while (cursor);
  return {ids, pages};
}

/** What edw list gives for a row (and state), in its order. */
async function listed(store: Store, stage: string, state?: DocState, run?: string): Promise<string[]> {
  const ids: string[] = [];
  await listDocuments(store, {stage, steps: STEPS, now: NOW, limit: 1000, ...(state ? {state} : {}), ...(run ? {run} : {})}, (page) => void ids.push(...page.map((l) => l.doc._id)));
  return ids;
}

forEachBackend((backend) => {
  test(`${backend.name}: GET /api/v1/status is what edw status --json counts, plus rates from this server's readings`, async (t) => {
    const a = await api(t, backend);
    const first = await a.get('/api/v1/status');
    t.is(first.status, 200);
    const {rates, ...counts} = first.body;
    t.deepEqual(counts, await statusCounts(a.store, STEPS, NOW));
    t.deepEqual(rates, {window_s: null, per_s: {registered: null, move_to_sps: null, signal_processing: null, ingest_detections: null}}, 'no rate before a second reading');
    // Ten seconds on, two documents more have completed move_to_sps and one more was registered.
    const moved = (await a.store.getMany(['new-a', 'new-b'])) as DataFileDoc[];
    await a.store.bulkWrite([...moved.map((d) => ({...d, process: [{name: 'move_to_sps', status: 'done'}]})), file('new-g', [])]);
    a.clock.now = NOW + 10_000;
    const second = await a.get('/api/v1/status');
    t.is(second.body.total, counts.total + 1);
    t.deepEqual(second.body.rates, {window_s: 10, per_s: {registered: 0.1, move_to_sps: 0.2, signal_processing: 0, ingest_detections: 0}});
  });

  test(`${backend.name}: GET /api/v1/documents pages through every row, one row, one state or one run, each document once, as edw list lists them`, async (t) => {
    const a = await api(t, backend);
    const everyRow = (await Promise.all(['new', ...STEPS].map((row) => listed(a.store, row)))).flat();
    const all = await pageThrough(t, a, 'limit=3');
    t.deepEqual(all.ids, everyRow, 'every row in chain order, in edw list order');
    t.is(all.pages, Math.ceil(everyRow.length / 3));
    for (const [query, stage, state, run] of [
      ['stage=new&limit=2', 'new'], ['stage=move_to_sps&state=failed&limit=1', 'move_to_sps', 'failed'], ['stage=new&run=run_b', 'new', undefined, 'run_b'],
      ['stage=signal_processing&limit=1', 'signal_processing'], ['stage=ingest_detections&state=done&limit=1', 'ingest_detections', 'done'],
    ] as Array<[string, string, DocState?, string?]>) {
      const {ids} = await pageThrough(t, a, query);
      t.deepEqual(ids, await listed(a.store, stage, state, run), query);
      t.true(ids.length > 0, `${query} lists something`);
    }
    const failedAnywhere = await pageThrough(t, a, 'state=failed&limit=1');
    t.deepEqual(failedAnywhere.ids, ['new-failed-1', 'new-failed-2', 'moved-failed'], 'failed documents of every row');
    const page = await a.get('/api/v1/documents?stage=move_to_sps&state=retrying');
    t.deepEqual(page.body.documents.map((d: any) => [d.id, d.run, d.row, d.state, d.stage, d.doc._id]), [['new-retrying', 'run_a', 'move_to_sps', 'retrying', 'new', 'new-retrying']]);
    t.is(page.body.next, null);
  });

  test(`${backend.name}: a documents page's cursor goes on after its last document even when that document has moved to another row since`, async (t) => {
    const a = await api(t, backend);
    const first = await a.get('/api/v1/documents?stage=new&limit=2');
    t.deepEqual(first.body.documents.map((d: any) => d.id), ['b-new-f', 'new-a']);
    // new-a completes move_to_sps: it leaves row new.
    const doc = (await a.store.get('new-a')) as DataFileDoc;
    await a.store.put({...doc, process: [{name: 'move_to_sps', status: 'done'}]});
    const rest = await pageThrough(t, a, `stage=new&cursor=${first.body.next}`);
    t.deepEqual(rest.ids, ['new-b', 'new-c', 'new-d', 'new-e', 'new-bad'], 'the rest of the row, none twice, none skipped');
  });

  test(`${backend.name}: bad queries are refused with 400 and {error, message} saying what is wrong; an unknown route or document with 404`, async (t) => {
    const a = await api(t, backend);
    for (const [url, pattern] of [
      ['/api/v1/documents?stage=nope', /^unknown stage nope \(stages: new, move_to_sps, signal_processing, ingest_detections\)$/],
      ['/api/v1/documents?state=lost', /querystring\/state must be equal to one of the allowed values/],
      ['/api/v1/documents?limit=0', /querystring\/limit must be >= 1/],
      ['/api/v1/documents?limit=ten', /querystring\/limit must be integer/],
      ['/api/v1/documents?colour=red', /querystring must NOT have additional properties/],
      ['/api/v1/documents?cursor=xyz', /^cursor xyz: not a cursor this API gave/],
      [`/api/v1/documents?stage=move_to_sps&cursor=${Buffer.from(JSON.stringify({row: 'new'})).toString('base64url')}`, /not a cursor this API gave/],
      ['/api/v1/detections?to=5', /querystring must have required property 'from'/],
      ['/api/v1/detections?from=yesterday&to=5', /^from yesterday: expected epoch seconds or an ISO 8601 date$/],
      ['/api/v1/detections?from=10&to=5', /^to 5 is before from 10$/],
      ['/api/v1/detections/counts?from=0&to=100000&bin=1', /more than 10000; give a wider bin/],
      ['/api/v1/detections/counts?from=0&to=10&bin=0', /querystring\/bin must be > 0/],
    ] as Array<[string, RegExp]>) {
      const {status, body} = await a.get(url);
      t.is(status, 400, url);
      t.is(body.error, 'bad_request', url);
      t.regex(body.message, pattern, url);
      t.deepEqual(Object.keys(body).sort(), ['error', 'message']);
    }
    t.deepEqual(await a.get('/api/v1/nothing'), {status: 404, body: {error: 'not_found', message: 'no route GET /api/v1/nothing'}});
    t.deepEqual(await a.get('/api/v1/documents/absent'), {status: 404, body: {error: 'not_found', message: 'no data-file document absent'}});
    t.is((await a.get('/api/v1/documents/detection:done-1:0')).status, 404, 'a detection is not a data file');
  });

  test(`${backend.name}: GET /api/v1/documents/:id gives the document with its row, state and timeline, errors in full`, async (t) => {
    const a = await api(t, backend);
    const {status, body} = await a.get('/api/v1/documents/new-failed-1');
    t.is(status, 200);
    t.like(body, {id: 'new-failed-1', run: 'run_a', stage: 'new', row: 'move_to_sps', state: 'failed'});
    t.deepEqual(body.entries, [{index: 0, name: 'move_to_sps', status: 'failed', started: '2026-11-24T10:59:00Z', finished: '2026-11-24T11:00:00Z', host: 'daq1', version: '1', attempt: 3, superseded_by: null, error: {message: 'md5 mismatch', retryable: false}, result: null}]);
    t.is(body.doc.edw.failed.error, 'md5 mismatch');
    const done = await a.get('/api/v1/documents/done-1');
    t.deepEqual(done.body.entries.map((e: any) => [e.name, e.status]), STEPS.map((s) => [s, 'done']));
    t.like(done.body, {row: 'ingest_detections', state: 'done', stage: 'ingest_detections'});
  });

  test(`${backend.name}: GET /api/v1/detections pages through a time range in time order, by run and amplitude, as edw detections; /counts gives them per bin`, async (t) => {
    const a = await api(t, backend);
    const expected: Doc[] = [];
    for await (const d of eachDetection(a.store, 1000, 4000)) expected.push(d);
    t.is(expected.length, 8);
    const ids: string[] = [];
    let cursor: string | null = null;
    do {
      const page: {status: number; body: any} = await a.get(`/api/v1/detections?from=1000&to=4000&limit=3${cursor ? `&cursor=${cursor}` : ''}`);
      t.is(page.status, 200, JSON.stringify(page.body));
      t.true(page.body.detections.length <= 3);
      ids.push(...page.body.detections.map((d: Doc) => d._id));
      cursor = page.body.next;
    } while (cursor);
    t.deepEqual(ids, expected.map((d) => d._id), 'every detection once, in view order (two share a time)');
    const iso = await a.get(`/api/v1/detections?from=${new Date(1000_000).toISOString()}&to=1600&max_amplitude=100`);
    t.deepEqual(iso.body.detections.map((d: Doc) => d._id), ['detection:done-1:0', 'detection:done-1:1']);
    const runB = await a.get('/api/v1/detections?from=0&to=99999&run=run_b');
    t.deepEqual(runB.body.detections.map((d: Doc) => d._id), ['detection:b-done-2:0']);
    const counts = await a.get('/api/v1/detections/counts?from=1000&to=4600&bin=1200');
    t.deepEqual(counts.body, {from: 1000, to: 4600, bin: 1200, counts: [3, 2, 3]});
    const loud = await a.get('/api/v1/detections/counts?from=1000&to=4600&bin=1200&min_amplitude=100&run=run_a');
    t.deepEqual(loud.body.counts, [1, 1, 2]);
  });

  test(`${backend.name}: GET /api/v1/listeners gives the heartbeats with their state, leaving out (not deleting) the long stopped`, async (t) => {
    const a = await api(t, backend);
    const {status, body} = await a.get('/api/v1/listeners');
    t.is(status, 200);
    t.deepEqual(body.listeners.map((l: any) => [l.owner, l.state, l.completed, l.failed]), [['h:1:a', 'alive', 3, 1]]);
    t.truthy(await a.store.get('edw-listener:h:2:b'), 'a GET deletes nothing');
    a.clock.now = NOW + 60_000;
    t.is((await a.get('/api/v1/listeners')).body.listeners[0].state, 'stale');
  });

  test(`${backend.name}: POST /api/v1/retry needs the operator token (401 and nothing changed without it), then retries by id and every one failed at a step`, async (t) => {
    const a = await api(t, backend);
    const before = await a.store.get('new-failed-1');
    for (const token of [undefined, 'wrong-token-0123456789']) {
      const refused = await a.post('/api/v1/retry', {ids: ['new-failed-1']}, token);
      t.is(refused.status, 401);
      t.is(refused.body.error, 'unauthorized');
      t.regex(refused.body.message, /operator token/);
    }
    t.deepEqual(await a.store.get('new-failed-1'), before, 'the document is as it was');
    const bad = await a.post('/api/v1/retry', {}, TOKEN);
    t.is(bad.status, 400);
    t.regex(bad.body.message, /body must NOT have fewer than 1 properties/);
    const unknown = await a.post('/api/v1/retry', {step: 'fit'}, TOKEN);
    t.deepEqual(unknown, {status: 400, body: {error: 'bad_request', message: 'unknown step fit (steps: move_to_sps, signal_processing, ingest_detections)'}});
    const byId = await a.post('/api/v1/retry', {ids: ['new-failed-1', 'new-a', 'absent']}, TOKEN);
    t.deepEqual(byId, {status: 200, body: {retried: 1, outcomes: [{id: 'new-failed-1', verdict: 'retried'}, {id: 'new-a', verdict: 'not-failed'}, {id: 'absent', verdict: 'not-found'}]}});
    const doc = (await a.store.get('new-failed-1')) as DataFileDoc;
    t.is(doc.edw?.failed, undefined);
    t.is(doc.process.length, 1, 'its failed entry stays in the history');
    const byStep = await a.post('/api/v1/retry', {step: 'move_to_sps'}, TOKEN);
    t.deepEqual(byStep.body, {retried: 1, outcomes: [{id: 'new-failed-2', verdict: 'retried'}]});
    t.is((await a.get('/api/v1/status')).body.failed.move_to_sps, 0);
    t.is((await a.get('/api/v1/status')).body.failed.signal_processing, 1, 'other steps untouched');
  });

  test(`${backend.name}: with no operator token configured, every POST is refused with 401 saying so`, async (t) => {
    const a = await api(t, backend, {operatorToken: null});
    const refused = await a.post('/api/v1/retry', {ids: ['new-failed-1']}, TOKEN);
    t.is(refused.status, 401);
    t.regex(refused.body.message, /this server has no operator token \(\[serve\] operator_token or EDW_OPERATOR_TOKEN\)/);
    t.truthy(((await a.store.get('new-failed-1')) as DataFileDoc).edw?.failed);
  });
});

test('the OpenAPI document at /api/v1/openapi.json is valid OpenAPI 3 and describes every /api route with its method', async (t) => {
  const [backend] = (await import('./helpers/backends.js')).backends;
  const a = await api(t, backend!);
  const {status, body} = await a.get(OPENAPI_PATH);
  t.is(status, 200);
  const validator = new Validator();
  const result = await validator.validate(body);
  t.true(result.valid, JSON.stringify(result.errors, null, 1));
  t.is(body.openapi, '3.1.0');
  const routes = routesOf(a.app).filter((r) => r.url.startsWith('/api/') && r.url !== OPENAPI_PATH);
  t.true(routes.length >= 7, JSON.stringify(routes));
  const described = Object.entries(body.paths as Record<string, Record<string, unknown>>).flatMap(([path, methods]) => Object.keys(methods).map((m) => `${m.toUpperCase()} ${path}`));
  t.deepEqual(described.sort(), routes.map((r) => `${r.method} ${r.url.replace(/:(\w+)/g, '{$1}')}`).sort(), 'every route is in it, and nothing else');
  t.deepEqual(body.paths['/api/v1/retry'].post.security, [{operatorToken: []}, {basic: []}, {session: []}]);
  t.truthy(body.paths['/api/v1/documents'].get.parameters.find((p: any) => p.name === 'cursor'));
});

test('edw serve answers over HTTP what edw status --json prints; stops on SIGTERM with exit 0', async (t) => {
  const ws = await workspace(t, {ini: '[log]\nlevel = info\n'});
  const store = await ws.open();
  await store.bulkWrite([file('w-1', []), file('w-2', ['move_to_sps'])]);
  await store.close();
  const serve = spawnEdw(['--config', ws.configPath, 'serve', '--port', '0']);
  t.teardown(() => serve.child.kill('SIGKILL'));
  const line = await serve.waitFor(/^serving /);
  const url = /on (http:\/\/127\.0\.0\.1:\d+) /.exec(line)?.[1];
  t.truthy(url, line);
  const status = await (await fetch(`${url}/api/v1/status`)).json() as Record<string, unknown>;
  // Another edw command reaches the embedded database through edw serve, which holds it.
  const cli = await edw('--config', ws.configPath, 'status', '--json');
  t.is(cli.code, 0, cli.err.join('\n'));
  const {rates, ...counts} = status;
  t.deepEqual(counts, JSON.parse(cli.out[0]!));
  t.truthy(rates);
  const retry = await fetch(`${url}/api/v1/retry`, {method: 'POST', headers: {'content-type': 'application/json'}, body: JSON.stringify({ids: ['w-1']})});
  t.is(retry.status, 401);
  serve.child.kill('SIGTERM');
  t.deepEqual(await serve.exit, {code: 0, signal: null});
});

// Serial: it sets EDW_OPERATOR_TOKEN in this process, which every config read here sees.
test.serial('edw serve refuses a bad port, a short operator token and a port in use, with one line each', async (t) => {
  const ws = await workspace(t);
  await (await ws.open()).close();
  const port = await edw('--config', ws.configPath, 'serve', '--port', '70000');
  t.deepEqual([port.code, port.err], [2, ['edw: --port 70000: expected a port number, 0 to 65535']]);
  const saved = process.env.EDW_OPERATOR_TOKEN;
  process.env.EDW_OPERATOR_TOKEN = 'short';
  t.teardown(() => {
    if (saved === undefined) delete process.env.EDW_OPERATOR_TOKEN;
    else process.env.EDW_OPERATOR_TOKEN = saved;
  });
  const token = await edw('--config', ws.configPath, 'serve');
  t.is(token.code, 2);
  t.regex(token.err[0]!, /^edw: EDW_OPERATOR_TOKEN: too short \(5 characters\); give at least 16/);
  delete process.env.EDW_OPERATOR_TOKEN;
  const first = spawnEdw(['--config', ws.configPath, 'serve', '--port', '0']);
  t.teardown(() => first.child.kill('SIGKILL'));
  const line = await first.waitFor(/^serving /);
  const taken = /:(\d+) \(API/.exec(line)![1]!;
  const second = await edw('--config', ws.configPath, 'serve', '--port', taken);
  t.is(second.code, 1);
  t.deepEqual(second.err.filter((l) => l.startsWith('edw:')), [`edw: cannot listen on 127.0.0.1:${taken}: another process listens there (give another --port)`]);
  first.child.kill('SIGTERM');
  await first.exit;
});
