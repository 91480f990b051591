import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {idsMd5, pushQueryIndexes, queryFromArgs, queryId, readQueryDoc, runQuery, showQuery, type QueryArgs} from '../lib/query/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend, type Backend} from './helpers/backends.js';
import {analystDocs, expectedIds} from './helpers/query-data.js';

/** One query of every filter kind, and combinations of them. */
const CASES: Array<[string, QueryArgs]> = [
  ['a top-level field =', {filters: ['facility=tunka']}],
  ['!= (documents lacking the field do not match)', {filters: ['conditions.channel!=A']}],
  ['< on numbers (null does not compare)', {filters: ['conditions.temperature<0.02']}],
  ['<= and >', {filters: ['conditions.energy<=20', 'conditions.temperature>0.05']}],
  ['a range', {filters: ['conditions.energy>=100', 'conditions.energy<150']}],
  ['an array position', {filters: ['conditions.volts.detector_a[0]=4']}],
  ['in', {filters: ['conditions.channel in (A,B)']}],
  ['contains in an array', {filters: ['conditions.tags contains calibration']}],
  ['contains in a text', {filters: ['conditions.note contains test']}],
  ['one run', {run: ['taiga-03']}],
  ['several runs', {run: ['taiga-03', 'tunka-12', 'kaskad-19']}],
  ['a run prefix', {run: ['tunka-1*']}],
  ['--from and --to', {from: '2025-01-01T00:00:00Z', to: '2025-01-31T23:59:59Z'}],
  ['epoch --from', {from: String(Date.UTC(2025, 11, 1) / 1000)}],
  ['a season', {season: '2024/25'}],
  ['the next season', {season: '2025/26'}],
  ['a month', {month: '2025-03'}],
  ['a week', {week: '2025-W10'}],
  ['a month in another time zone', {month: '2025-03', tz: 'Asia/Tokyo'}],
  ['a stage', {stage: ['new']}],
  ['two stages', {stage: ['move_to_sps', 'signal_processing']}],
  ['failed', {failed: true}],
  ['status', {filters: ['status!=good']}],
  ['a step done', {done: ['signal_processing']}],
  ['a step version done', {done: ['signal_processing@2']}],
  ['a step not done', {notDone: ['signal_processing']}],
  ['season, facility, condition and stage', {season: '2025/26', filters: ['facility=kaskad', 'conditions.temperature<0.05'], stage: ['signal_processing']}],
  ['month, channel, not done and run prefix', {month: '2025-02', filters: ['conditions.channel in (B,C)'], notDone: ['move_to_sps'], run: ['ta*']}],
  ['done and failed and weather', {done: ['move_to_sps'], failed: true, filters: ['conditions.weather=rain']}],
  ['every document', {}],
];

const DOCS = analystDocs(1000);

async function prepared(t: ExecutionContext, backend: Backend, docs: Doc[] = DOCS): Promise<Store> {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await pushQueryIndexes(store, ['facility', 'conditions.temperature']);
  for (let i = 0; i < docs.length; i += 500) {
    const outcomes = await store.bulkWrite(docs.slice(i, i + 500));
    if (!outcomes.every((o) => o.ok)) throw new Error('setup write failed');
  }
  return store;
}

/** A store that counts the database queries made through it (`_find` and view reads); every call goes to the real store. */
function counting(store: Store): {store: Store; queries: () => number} {
  let queries = 0;
  const wrapped = new Proxy(store, {
    get(target, key) {
      const value = Reflect.get(target, key, target) as unknown;
      if (typeof value !== 'function') return value;
      return (...args: unknown[]) => {
        if (key === 'find' || key === 'query') queries++;
        return (value as (...a: unknown[]) => unknown).apply(target, args);
      };
    },
  });
  return {store: wrapped, queries: () => queries};
}

test('the same filters in any order, or said another way, give the same query id; different ones a different id', (t) => {
  const a = queryId(queryFromArgs({filters: ['facility=tunka', 'conditions.temperature<0.02'], run: ['b', 'a'], stage: ['new', 'move_to_sps']}));
  const b = queryId(queryFromArgs({filters: ['conditions.temperature<0.02', 'facility=tunka'], run: ['a', 'b'], stage: ['move_to_sps', 'new']}));
  t.is(a, b);
  t.regex(a, /^[0-9a-f]{32}$/);
  t.is(queryId(queryFromArgs({filters: ['run in (a,b)', 'facility=tunka', 'conditions.temperature<0.02'], stage: ['new', 'move_to_sps']})), a);
  t.is(queryId(queryFromArgs({from: '1378222673'})), queryId(queryFromArgs({filters: ['datecreated>=1378222673']})));
  t.is(queryId(queryFromArgs({filters: ['x in (1)']})), queryId(queryFromArgs({filters: ['x=1']})));
  t.is(queryId(queryFromArgs({season: '2025/26'})), queryId(queryFromArgs({from: '2025-09-01T00:00:00Z', filters: [`datecreated<${Date.UTC(2026, 5, 1) / 1000}`]})));
  const different = [
    {filters: ['facility=tunka']}, {filters: ['facility=taiga']}, {filters: ['facility!=tunka']}, {filters: ['facility contains tunka']},
    {filters: ['n=1']}, {filters: ['n="1"']}, {stage: ['new']}, {failed: true}, {done: ['s']}, {notDone: ['s']}, {done: ['s@1']}, {run: ['a*']}, {},
  ].map((args) => queryId(queryFromArgs(args)));
  t.is(new Set(different).size, different.length);
});

test('bad filters and time forms are refused naming what is wrong', (t) => {
  t.throws(() => queryFromArgs({filters: ['temperature']}), {message: /filter 'temperature': expected PATH OP VALUE/});
  t.throws(() => queryFromArgs({filters: ['x in A,B']}), {message: /'in' takes a list in parentheses/});
  t.throws(() => queryFromArgs({season: '2025/27'}), {message: /--season 2025\/27: expected YYYY\/YY/});
  t.throws(() => queryFromArgs({month: '2025-13'}), {message: /--month 2025-13/});
  t.throws(() => queryFromArgs({week: '2025-W53'}), {message: /--week 2025-W53/});
  t.throws(() => queryFromArgs({from: 'yesterday'}), {message: /--from yesterday: expected epoch seconds or an ISO 8601 date/});
  t.throws(() => queryFromArgs({month: '2025-01', tz: 'Mars/Olympus'}), {message: /--tz Mars\/Olympus/});
  t.throws(() => queryFromArgs({run: ['a*', 'b']}), {message: /a prefix/});
});

forEachBackend((backend) => {
  test(`${backend.name}: every filter kind and combination answers what the documents say, read independently`, async (t) => {
    const store = await prepared(t, backend);
    for (const [name, args] of CASES) {
      const form = queryFromArgs(args);
      const expected = expectedIds(DOCS, form);
      const result = await runQuery(store, form, {fresh: true}).catch((error: Error) => {
        throw new Error(`${name}: ${error.message}`);
      });
      t.deepEqual(result.doc.ids, expected, name);
      t.is(result.doc.count, expected.length, name);
      t.is(result.doc.md5, idsMd5(expected), name);
      t.false(result.cached, name);
    }
    // Cases that must select something, so that an empty answer cannot pass for a right one.
    t.true(expectedIds(DOCS, queryFromArgs(CASES[26]![1])).length > 0);
    t.true(expectedIds(DOCS, queryFromArgs(CASES[27]![1])).length > 0);
  });

  test(`${backend.name}: a fresh cached answer is returned without a database query, and recomputed once a document it names changes stage`, async (t) => {
    const real = await prepared(t, backend);
    const {store, queries} = counting(real);
    const form = queryFromArgs({filters: ['facility=taiga'], stage: ['new']});
    const first = await runQuery(store, form, {freshMs: 60_000});
    t.false(first.cached);
    const asked = queries();
    t.true(asked >= 1);
    const second = await runQuery(store, form, {freshMs: 60_000});
    t.true(second.cached);
    t.is(queries(), asked);
    t.deepEqual(second.doc.ids, first.doc.ids);
    // A document of the answer completes move_to_sps: it leaves stage new.
    const moved = (await real.get(first.doc.ids[0]!))!;
    await real.put({...moved, process: [{name: 'move_to_sps', status: 'done', version: '1', started: 'x', finished: 'x', host: 'h', attempt: 1}]});
    const third = await runQuery(store, form, {freshMs: 60_000});
    t.false(third.cached);
    t.regex(third.recomputed ?? '', /changed/);
    t.true(queries() > asked);
    t.false(third.doc.ids.includes(moved._id));
    t.is(third.doc.count, first.doc.count - 1);
    // Older than the freshness setting: recomputed too.
    const later = await runQuery(store, form, {freshMs: 60_000, now: () => new Date(Date.now() + 120_000)});
    t.false(later.cached);
  });

  test(`${backend.name}: --show says what was added, removed and changed stage since a query, and keeps the saved answer`, async (t) => {
    const store = await prepared(t, backend);
    const form = queryFromArgs({filters: ['facility=tunka'], run: ['tunka-0*']});
    const {id, doc} = await runQuery(store, form);
    t.deepEqual((await showQuery(store, id)).added, []);
    const [a, b] = [await store.get(doc.ids[0]!), await store.get(doc.ids[1]!)];
    await store.put({...a!, process: [...(a!.process as unknown[]), {name: 'zzz', status: 'done', version: '1'}]});
    await store.put({...b!, facility: 'elsewhere'});
    await store.bulkWrite([{...analystDocs(1, 'new')[0]!, run: 'tunka-00', facility: 'tunka'}]);
    const changes = await showQuery(store, id);
    t.deepEqual(changes.added, ['new00000']);
    t.deepEqual(changes.removed, [b!._id]);
    t.deepEqual(changes.changedStage.map((c) => [c.id, c.to]), [[a!._id, 'zzz']]);
    t.is((await readQueryDoc(store, id))!.md5, doc.md5);
  });

  test(`${backend.name}: explain names the index for an indexed field and none for another, which still answers with a warning`, async (t) => {
    const store = await prepared(t, backend);
    const indexed = await runQuery(store, queryFromArgs({filters: ['facility=tunka']}), {explain: true});
    t.like(indexed.plan?.index, {ddoc: 'edw-query', name: 'facility'});
    t.is(indexed.warning, undefined);
    const form = queryFromArgs({filters: ['conditions.weather=snow']});
    const scanned = await runQuery(store, form, {explain: true});
    t.like(scanned.plan?.index, {ddoc: null, name: '_all_docs'});
    t.truthy(scanned.warning);
    t.deepEqual(scanned.doc.ids, expectedIds(DOCS, form));
  });
});
