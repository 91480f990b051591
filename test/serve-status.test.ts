/**
 * `GET /api/v1/status` under concurrent requests: those that arrive while a reading is under way
 * share it (one reading, every one of them gets its result); a request after it ends makes a fresh
 * one. And `edw serve`'s server keeps the stage counts itself (CountsKeeper) when no listener does.
 */
import {setImmediate as turn} from 'node:timers/promises';
import test from 'ava';
import {loadCounts} from '../lib/counts/index.js';
import {statusCounts} from '../lib/inspect/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import {COUNTS_KEEPER_ID} from '../lib/runtime/index.js';
import {createApp, startServer} from '../lib/serve/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {backends, forEachBackend} from './helpers/backends.js';

const CHAIN = [{name: 'move_to_sps', after: 'new'}, {name: 'signal_processing', after: 'move_to_sps'}];

const dataDoc = (id: string): Doc => ({_id: id, status: 'good', run: 'run_a', md5sum: 'x', original_file: `/raw/${id}`, process: []});

/**
 * A store that counts the status readings made through it (each starts with one `info`), and holds
 * the first one until `release()`; every call goes to the real store.
 */
function counting(store: Store): {store: Store; readings: () => number; started: Promise<void>; release: () => void} {
  let readings = 0;
  let release!: () => void;
  let begin!: () => void;
  const released = new Promise<void>((resolve) => (release = resolve));
  const started = new Promise<void>((resolve) => (begin = resolve));
  const wrapped = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return async (...args: unknown[]) => {
        if (key === 'info' && ++readings === 1) {
          begin();
          await released;
        }
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {store: wrapped, readings: () => readings, started, release};
}

forEachBackend((backend) => {
  test(`${backend.name}: ten status requests arriving while a reading runs share it: one reading, the same answer to all; the next request reads again`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await store.bulkWrite([dataDoc('a'), dataDoc('b'), dataDoc('c')]);
    const counted = counting(store);
    const api = await createApp({store: counted.store, chain: CHAIN, log: silentLogger()});
    t.teardown(() => api.close());
    const ask = async () => {
      const response = await api.inject({method: 'GET', url: '/api/v1/status'});
      return {status: response.statusCode, body: JSON.parse(response.body) as {total: number}};
    };
    const first = ask();
    await counted.started;
    const others = Array.from({length: 9}, () => ask());
    // The nine requests run to the handler without any I/O (no login on these databases): a few turns of the event loop.
    for (let i = 0; i < 10; i++) await turn();
    counted.release();
    const answers = await Promise.all([first, ...others]);
    t.deepEqual(answers.map((a) => a.status), Array(10).fill(200));
    t.true(answers.every((a) => a.body.total === 3));
    t.deepEqual(answers.map((a) => a.body), Array(10).fill(answers[0]!.body), 'every request got the one reading');
    t.is(counted.readings(), 1, 'one reading for the ten requests');
    await store.bulkWrite([dataDoc('d')]);
    t.is((await ask()).body.total, 4, 'a request after the reading ended reads again, and sees the new document');
    t.is(counted.readings(), 2);
  });
});

test('edw serve\'s server keeps the stage counts when no listener does (embedded): it names itself the keeper and saves them; closing it saves them up to the feed\'s end', async (t) => {
  const store = await backends[0]!.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await store.bulkWrite([dataDoc('a'), dataDoc('b')]);
  t.is(await store.getLocal(COUNTS_KEEPER_ID), null, 'no keeper before');
  const server = await startServer({store, chain: CHAIN, log: silentLogger(), port: 0, countsMs: 60_000});
  t.teardown(() => server.close());
  await server.counts!.refreshNow(); // after the refresh the keeper starts with
  t.true(server.counts!.keeping, 'the server keeps the counts');
  t.is(typeof (await store.getLocal(COUNTS_KEEPER_ID))?.owner, 'string', 'and is named the keeper');
  const saved = await loadCounts(store);
  t.not(saved.seq, '0', 'counts are saved');
  await store.bulkWrite([dataDoc('c')]);
  await server.close();
  t.is((await loadCounts(store)).seq, (await store.info()).updateSeq, 'the counts saved at close are at the feed\'s end');
});

forEachBackend((backend) => {
  test(`${backend.name}: a bounded status reading (edw serve's) answers from the kept counts when they are far behind, saying how fresh, and is exact once caught up; with none kept it reads the whole feed once and keeps the counts`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const steps = CHAIN.map((s) => s.name);
    await store.bulkWrite(Array.from({length: 12}, (_, i) => dataDoc(`a${i}`)));
    const {reductionsStored} = await store.info();
    const first = await statusCounts(store, steps, Date.now(), {maxChanges: 5});
    t.is(first.total, 12, 'nothing kept: the whole feed read, exact');
    t.is(first.fresh, undefined, 'nothing was left unread');
    const saved = await loadCounts(store);
    if (reductionsStored) {
      t.is(saved.seq, '0', 'CouchDB answers from the reduce and keeps nothing');
      return;
    }
    t.truthy(saved.savedAt, 'the counts were saved, with their time');
    await store.bulkWrite(Array.from({length: 20}, (_, i) => dataDoc(`b${i}`)));
    const behind = await statusCounts(store, steps, Date.now(), {maxChanges: 5});
    t.true(behind.total >= 12 + 5 && behind.total < 32, `answered from what it read: ${behind.total}`);
    t.like(behind.fresh, {exact: false, counts_as_of: new Date(saved.savedAt!).toISOString()});
    t.is(behind.total, Object.values(behind.stages).reduce((a, b) => a + b, 0), 'the answer is consistent: one feed position');
    let next = behind;
    for (let i = 0; i < 10 && next.fresh; i++) next = await statusCounts(store, steps, Date.now(), {maxChanges: 5});
    t.is(next.fresh, undefined, 'exact once the readings caught up');
    t.is(next.total, 32);
    t.deepEqual(next, await statusCounts(store, steps), 'the same as an unbounded reading');
  });
});

forEachBackend((backend) => {
  test(`${backend.name}: GET /api/v1/status far behind the kept counts answers from them with fresh and no rates (they would read the catching up as work done), then exact with rates`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await store.bulkWrite([dataDoc('a'), dataDoc('b')]);
    const api = await createApp({store, chain: CHAIN, log: silentLogger(), statusMaxChanges: 3});
    t.teardown(() => api.close());
    const ask = async () => JSON.parse((await api.inject({method: 'GET', url: '/api/v1/status'})).body) as {total: number; fresh?: {exact: boolean; counts_as_of: string | null; conflicted_exact: boolean}; rates: {window_s: number | null; per_s: Record<string, number | null>}};
    t.is((await ask()).total, 2);
    await store.bulkWrite(Array.from({length: 12}, (_, i) => dataDoc(`c${i}`)));
    const behind = await ask();
    if ((await store.info()).reductionsStored) {
      t.is(behind.fresh, undefined, 'CouchDB answers from the reduce: exact');
      t.is(behind.total, 14);
      return;
    }
    t.true(behind.total < 14, `answered as far as it read: ${behind.total}`);
    t.is(behind.fresh?.exact, false);
    t.regex(behind.fresh?.counts_as_of ?? '', /^\d{4}-\d\d-\d\dT/, 'when the counts it started from were kept');
    t.deepEqual(behind.rates, {window_s: null, per_s: {registered: null, move_to_sps: null, signal_processing: null}});
    let next = behind;
    for (let i = 0; i < 10 && next.fresh; i++) next = await ask();
    t.is(next.fresh, undefined, 'exact once caught up');
    t.is(next.total, 14);
  });
});
