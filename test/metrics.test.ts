/**
 * Prometheus metrics: `edw serve`'s `/metrics` and `edw listen --metrics-port`, parsed with a
 * Prometheus text-format parser, their values checked against the database.
 */
import {readFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import parsePrometheusTextFormat, {type PrometheusFamily} from 'parse-prometheus-text-format';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {DOC_STATES, statusCounts} from '../lib/inspect/index.js';
import {silentLogger} from '../lib/log/index.js';
import {feedLag, Registry, registerDatabaseMetrics, registerHttpMetrics, registerListenerMetrics} from '../lib/metrics/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {createApp, startServer} from '../lib/serve/index.js';
import {eventsOf} from '../scripts/support/event-stream.js';
import {openStore, type Doc} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';
import {allDataDocs, runner, simulateAndRegister} from './helpers/chain.js';
import {spawnEdw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}, {name: 'ingest_detections', after: 'signal_processing'}];
const STEPS = CHAIN.map((s) => s.name);

/**
 * The metric families of a /metrics text. parse-prometheus-text-format folds a histogram's samples into
 * one whatever their labels (a histogram with labels loses them), so each histogram's `_count`, `_sum`
 * and `_bucket` lines are also read as families of their own, parsed without the histogram's TYPE line.
 */
function parseMetrics(text: string): PrometheusFamily[] {
  const families = parsePrometheusTextFormat(text);
  const histograms = families.filter((f) => f.type === 'HISTOGRAM').map((f) => f.name);
  const untyped = parsePrometheusTextFormat(text.split('\n').filter((line) => !/^# (TYPE|HELP) \S+ /.test(line) || !histograms.includes(line.split(' ')[2]!)).join('\n'));
  return [...families, ...untyped.filter((f) => histograms.some((h) => f.name === `${h}_count` || f.name === `${h}_sum` || f.name === `${h}_bucket`))];
}

/** The value of one sample of a family, by its labels (0 when the family has no such sample). */
function sample(families: PrometheusFamily[], name: string, labels: Record<string, string> = {}): number {
  // A name can come back as a new family further on (a histogram's lines, read untyped, alternate).
  const found = families.filter((f) => f.name === name).flatMap((f) => f.metrics).find((m) => Object.entries(labels).every(([k, v]) => m.labels?.[k] === v));
  return Number(found?.value ?? 0);
}

const file = (id: string, done: string[], edw?: Record<string, unknown>): Doc => ({
  _id: id, status: 'good', run: 'r', md5sum: 'x', process: done.map((name) => ({name, status: 'done'})), ...(edw ? {edw} : {}),
});

forEachBackend((backend) => {
  test(`${backend.name}: edw serve's /metrics gives documents per row and state, completions, claims held, retries pending, failed documents, feed lag and HTTP requests as the database has them`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const now = Date.now();
    await store.bulkWrite([
      file('a', []), file('b', []), file('c', ['move_to_sps']), file('d', STEPS),
      file('e', [], {retry: {step: 'move_to_sps', version: '1', attempts: 1, next: now + 600_000, error: 'reset'}}),
      file('f', ['move_to_sps'], {failed: {step: 'signal_processing', version: '1', attempts: 3, error: 'bad', at: 'x'}}),
      file('g', ['move_to_sps'], {token: 1, claim: {step: 'signal_processing', version: '1', owner: 'h:1:a', host: 'h', pid: 1, token: 1, expires: now + 600_000, since: 'x'}}),
      {_id: 'edw-listener:h:1:a', type: 'listener', owner: 'h:1:a', host: 'h', pid: 1, started: 'x', beat: 'x', beat_ms: now, interval_ms: 60_000, completed: 0, failed: 0,
        listeners: [{step: 'move_to_sps', since: '0', reachable: true, running: 0, queued: 0, last_progress: null}]},
    ]);
    const app = await createApp({store, chain: CHAIN, log: silentLogger()});
    t.teardown(() => app.close());
    for (let i = 0; i < 3; i++) t.is((await app.inject({method: 'GET', url: '/api/v1/status'})).statusCode, 200);
    await app.inject({method: 'GET', url: '/api/v1/documents?limit=0'});
    const response = await app.inject({method: 'GET', url: '/metrics'});
    t.is(response.statusCode, 200);
    t.regex(String(response.headers['content-type']), /^text\/plain/);
    const metrics = parseMetrics(response.body);
    t.true(metrics.every((f) => f.name.startsWith('edw_')), metrics.map((f) => f.name).join(' '));

    const status = await statusCounts(store, STEPS);
    for (const [row, counts] of Object.entries(status.rows)) {
      for (const state of DOC_STATES) t.is(sample(metrics, 'edw_documents', {row, state}), counts[state], `edw_documents{row=${row},state=${state}}`);
    }
    t.deepEqual(STEPS.map((step) => sample(metrics, 'edw_step_completions', {step})), [4, 1, 1], 'documents at or past each step');
    t.is(sample(metrics, 'edw_documents_claimed', {step: 'signal_processing'}), 1);
    t.is(sample(metrics, 'edw_documents_claimed', {step: 'move_to_sps'}), 0);
    t.is(sample(metrics, 'edw_retries_pending', {step: 'move_to_sps'}), 1);
    t.is(sample(metrics, 'edw_documents_failed', {step: 'signal_processing'}), 1);
    t.is(sample(metrics, 'edw_listener_processes', {state: 'alive'}), 1);
    // Its feed position is 0: every change of the database is after it, one per document.
    t.is(sample(metrics, 'edw_listener_feed_lag_changes', {owner: 'h:1:a'}), (await store.info()).docCount);
    t.is(sample(metrics, 'edw_http_requests_total', {method: 'GET', route: '/api/v1/status', status: '200'}), 3);
    t.is(sample(metrics, 'edw_http_requests_total', {method: 'GET', route: '/api/v1/documents', status: '400'}), 1);
    t.is(sample(metrics, 'edw_http_request_duration_seconds_count', {method: 'GET', route: '/api/v1/status'}), 3, 'the latency histogram counted them');
  });

  test(`${backend.name}: a stream of /api/v1/events is counted in the HTTP request metrics when its client goes, with how long it was open`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const server = await startServer({store, chain: CHAIN, log: silentLogger(), port: 0, countsMs: 0});
    t.teardown(() => server.close());
    const events = {method: 'GET', route: '/api/v1/events', status: '200'};
    const metrics = async (): Promise<PrometheusFamily[]> => parseMetrics(await (await fetch(`${server.url}/metrics`)).text());
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const stream = eventsOf(await fetch(`${server.url}/api/v1/events`, {signal: controller.signal}));
    for (let event = await stream.next(); event.value?.event !== 'status'; event = await stream.next()) t.false(event.done, 'the stream sends the status first');
    t.is(sample(await metrics(), 'edw_http_requests_total', events), 0, 'not counted while open');
    controller.abort();
    // The server hears the client go a moment later: ask until it has counted it.
    let after = await metrics();
    while (sample(after, 'edw_http_requests_total', events) === 0) {
      await new Promise((resolve) => setTimeout(resolve, 20));
      after = await metrics();
    }
    t.is(sample(after, 'edw_http_requests_total', events), 1);
    t.is(sample(after, 'edw_http_request_duration_seconds_count', {method: 'GET', route: '/api/v1/events'}), 1);
    t.true(sample(after, 'edw_http_request_duration_seconds_sum', {method: 'GET', route: '/api/v1/events'}) > 0, 'how long it was open');
  });

  test(`${backend.name}: feed lag counts the changes after a position, opaque seqs and all`, async (t) => {
    const store = await backend.open(t);
    const {updateSeq} = await store.info();
    t.is(await feedLag(store, updateSeq), 0);
    await store.bulkWrite([{_id: 'x'}, {_id: 'y'}, {_id: 'z'}]);
    t.is(await feedLag(store, updateSeq), 3);
    t.is(await feedLag(store, updateSeq, 2), 2, 'counted up to the cap');
  });
});

test('edw listen --metrics-port serves its steps completed per step and version, their durations and claims held, matching the documents', async (t) => {
  const ws = await workspace(t, {ini: '[log]\nlevel = info\n'});
  const store = await ws.open();
  const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 4);
  await store.close();
  const listen = spawnEdw(['--config', ws.configPath, 'listen', '--metrics-port', '0']);
  t.teardown(() => listen.child.kill('SIGKILL'));
  const url = /url=(\S+)/.exec(await listen.waitFor(/ metrics /))![1]!;
  await listen.waitFor(/caught up/);
  const text = await (await fetch(url)).text();
  const metrics = parseMetrics(text);
  // The listener holds the embedded database: read it through the process, as any edw command would.
  const reader = await openStore({url: ws.config.database.url});
  t.teardown(() => reader.close());
  const docs = await allDataDocs(reader, ids);
  for (const step of STEPS) {
    const versions = new Map<string, number>();
    for (const entry of docs.flatMap((d: DataFileDoc) => d.process)) if (entry.name === step && entry.status === 'done') versions.set(entry.version!, (versions.get(entry.version!) ?? 0) + 1);
    t.is(versions.size, 1, `${step}: one version ran`);
    for (const [version, n] of versions) {
      t.is(n, ids.length);
      t.is(sample(metrics, 'edw_steps_completed_total', {step, version}), n, `edw_steps_completed_total{step=${step},version=${version}}`);
      t.is(sample(metrics, 'edw_step_duration_seconds_count', {step, version}), n, 'a duration for each');
      t.is(sample(metrics, 'edw_steps_failed_total', {step, version}), 0);
    }
    t.is(sample(metrics, 'edw_claims_held', {step}), 0, 'none running once caught up');
  }
  t.true(metrics.some((f) => f.name === 'edw_feed_lag_changes'));
  listen.child.kill('SIGTERM');
  t.is((await listen.exit).code, 0);
});

test('the Grafana dashboard in docs/ is JSON and every metric it queries is one edw serves', async (t) => {
  const dashboard = JSON.parse(await readFile(new URL('../docs/grafana-dashboard.json', import.meta.url), 'utf8')) as {panels: Array<{title: string; targets: Array<{expr: string}>}>};
  const ws = await workspace(t);
  const store = await ws.open();
  const serve = new Registry();
  registerDatabaseMetrics(serve, {store, steps: STEPS});
  registerHttpMetrics(serve);
  const listen = new Registry();
  registerListenerMetrics(listen, await runner(store, ws.config), store);
  const served = new Set([...(await serve.getMetricsAsJSON()), ...(await listen.getMetricsAsJSON())].map((m) => m.name));
  const queried = dashboard.panels.flatMap((p) => p.targets.flatMap((target) => target.expr.match(/\bedw_[a-z_]+/g) ?? []));
  t.true(dashboard.panels.length >= 8);
  for (const name of queried) t.true(served.has(name.replace(/_(bucket|count|sum)$/, '')), `${name} is served`);
  for (const name of ['edw_steps_completed_total', 'edw_steps_failed_total', 'edw_step_duration_seconds', 'edw_feed_lag_changes', 'edw_claims_held', 'edw_retries_pending', 'edw_http_requests_total', 'edw_http_request_duration_seconds']) {
    t.true(queried.some((q) => q.startsWith(name)), `the dashboard shows ${name}`);
  }
});
