/**
 * `edw serve`'s web page and its live updates: the page and ECharts (from npm) are served, and
 * `GET /api/v1/events` streams a `change` for each written document and the new `status` after it,
 * on every backend. (The browser test of the page itself is still to come.)
 */
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import {startServer} from '../lib/serve/index.js';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';
import {eventsOf, type ServerEvent} from '../scripts/support/event-stream.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}, {name: 'ingest_detections', after: 'signal_processing'}];
const file = (id: string): Doc => ({_id: id, status: 'good', run: 'r', md5sum: 'x', process: []});

/** The next event named `name` whose data passes `accept`, skipping others. */
async function next(events: AsyncGenerator<ServerEvent>, name: string, accept: (data: any) => boolean = () => true): Promise<any> {
  for (;;) {
    const {value, done} = await events.next();
    if (done) throw new Error(`the stream ended before a ${name} event`);
    if (value.event === name && accept(value.data)) return value.data;
  }
}

async function serve(t: ExecutionContext, store: Parameters<typeof startServer>[0]['store']) {
  const server = await startServer({store, chain: CHAIN, log: silentLogger(), port: 0, statusEveryMs: 50});
  t.teardown(() => server.close());
  return server;
}

forEachBackend((backend) => {
  test(`${backend.name}: GET /api/v1/events sends the status, then a change with each written document's id and the status after it`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await store.bulkWrite([file('a')]);
    const server = await serve(t, store);
    const controller = new AbortController();
    t.teardown(() => controller.abort());
    const response = await fetch(`${server.url}/api/v1/events`, {signal: controller.signal});
    t.is(response.status, 200);
    t.regex(response.headers.get('content-type') ?? '', /^text\/event-stream/);
    const events = eventsOf(response);
    const first = await next(events, 'status');
    t.is(first.total, 1);
    t.truthy(first.rates);
    await store.bulkWrite([file('b'), file('c')]);
    const seen = new Set<string>();
    while (!(seen.has('b') && seen.has('c'))) for (const id of (await next(events, 'change')).ids as string[]) seen.add(id);
    const after = await next(events, 'status', (s) => s.total === 3);
    t.is(after.rows.new.waiting, 3);
    // A second client shares the feed and gets the status at once.
    const second = await fetch(`${server.url}/api/v1/events`, {signal: controller.signal});
    t.is((await next(eventsOf(second), 'status')).total, 3);
    controller.abort();
  });
});

test('the web page, its script and ECharts from its npm package are served at /, with a content security policy', async (t) => {
  const {backends} = await import('./helpers/backends.js');
  const store = await backends[0]!.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const server = await serve(t, store);
  const page = await fetch(`${server.url}/`);
  t.is(page.status, 200);
  t.regex(page.headers.get('content-type') ?? '', /^text\/html/);
  t.regex(page.headers.get('content-security-policy') ?? '', /default-src 'self'/);
  const html = await page.text();
  for (const src of ['/vendor/echarts.min.js', '/app.js', '/style.css']) {
    t.true(html.includes(src), `the page loads ${src}`);
    const asset = await fetch(`${server.url}${src}`);
    t.is(asset.status, 200, src);
    t.true((await asset.text()).length > 100, src);
  }
  const echarts = await (await fetch(`${server.url}/vendor/echarts.min.js`)).text();
  t.regex(echarts.slice(0, 2000), /echarts|Apache/i, 'it is ECharts');
  const script = await (await fetch(`${server.url}/app.js`)).text();
  t.true(script.includes("new EventSource('/api/v1/events')"), 'the page follows the live events');
  t.false(/\.innerHTML\s*=/.test(script), 'document data never goes in as HTML');
});
