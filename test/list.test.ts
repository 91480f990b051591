import test from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {DOC_STATES, listDocuments, refreshCounts, statusFromCounts, statusFromView, type DocState, type ListOptions, type StatusCounts} from '../lib/inspect/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend} from './helpers/backends.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

const STEPS = ['move_to_sps', 'signal_processing', 'ingest_detections'];
const NOW = Date.parse('2026-11-24T12:00:00Z');

function file(id: string, done: string[], extra: Partial<DataFileDoc> = {}): Doc {
  return {
    _id: id, status: 'good', run: id.startsWith('b-') ? 'run_b' : 'run_a', md5sum: 'x', original_file: `/raw/${id}`,
    process: done.map((name) => ({name, status: 'done', started: '2026-11-24T10:00:00Z', finished: '2026-11-24T10:00:01Z'})),
    ...extra,
  } as Doc;
}

const claim = (step: string, expires: number) => ({step, version: '1', owner: 'host:1:a', host: 'host', pid: 1, token: 2, expires, since: '2026-11-24T11:00:00Z'});
const retry = (step: string, next: number, attempts = 1) => ({step, version: '1', attempts, next, error: 'connection reset'});
const failed = (step: string, attempts: number) => ({step, version: '1', attempts, error: 'md5 mismatch', at: '2026-11-24T11:00:00Z'});

/**
 * Documents in every state at several stages, at time `now`, each with the stage and state status and
 * list must agree on; plus documents that are not data files.
 */
function fixture(now: number): {docs: Doc[]; expected: Map<string, [string, DocState]>} {
  const moved = ['move_to_sps'];
  const rows: Array<[Doc, string, DocState]> = [
    [file('new-waiting-1', []), 'new', 'waiting'],
    [file('b-new-waiting-2', []), 'new', 'waiting'],
    [file('new-expired-claim', [], {edw: {token: 1, claim: claim('move_to_sps', now - 1)}}), 'new', 'waiting'],
    [file('new-claimed', [], {edw: {token: 1, claim: claim('move_to_sps', now + 3_600_000)}}), 'new', 'in_progress'],
    [file('new-retrying', [], {edw: {retry: retry('move_to_sps', now + 300_000)}}), 'new', 'retrying'],
    [file('new-failed', [], {edw: {failed: failed('move_to_sps', 1)}}), 'new', 'failed'],
    [file('new-bad', [], {status: 'bad'}), 'new', 'bad'],
    [file('moved-waiting', moved), 'move_to_sps', 'waiting'],
    [file('moved-retry-running', moved, {edw: {token: 3, retry: retry('signal_processing', now - 1000, 2), claim: claim('signal_processing', now + 3_600_000)}}), 'move_to_sps', 'in_progress'],
    [file('moved-retrying', moved, {edw: {retry: retry('signal_processing', now + 60_000, 2)}}), 'move_to_sps', 'retrying'],
    [file('moved-failed', moved, {edw: {failed: failed('signal_processing', 3)}}), 'move_to_sps', 'failed'],
    [file('processed-claimed', ['move_to_sps', 'signal_processing'], {edw: {token: 4, claim: claim('ingest_detections', now + 3_600_000)}}), 'signal_processing', 'in_progress'],
    [file('done-1', STEPS), 'ingest_detections', 'done'],
    [file('b-done-2', STEPS), 'ingest_detections', 'done'],
    [file('done-bad', STEPS, {status: 'bad'}), 'ingest_detections', 'bad'],
    // A stage no configured step follows any more (a step since removed from edw.ini).
    [file('old-stage', ['old_step']), 'old_step', 'done'],
  ];
  const others: Doc[] = [
    {_id: 'detection:done-1:0', type: 'detection', source: 'done-1', time: 1},
    {_id: 'edw-listener:host:1:a', type: 'listener', owner: 'host:1:a'},
  ];
  return {docs: [...rows.map(([doc]) => doc), ...others], expected: new Map(rows.map(([doc, stage, state]) => [doc._id, [stage, state]]))};
}

function idsAt(expected: Map<string, [string, DocState]>, stage: string, state?: DocState): string[] {
  return [...expected].filter(([, [s, st]]) => s === stage && (state === undefined || st === state)).map(([id]) => id).sort();
}

async function listIds(store: Store, options: Omit<ListOptions, 'steps'>): Promise<{ids: string[]; pages: number; next?: string}> {
  const ids: string[] = [];
  let pages = 0;
  const end = await listDocuments(store, {steps: STEPS, now: NOW, ...options}, (page) => {
    pages++;
    ids.push(...page.map(({doc}) => doc._id));
  });
  return {ids, pages, ...end};
}

async function setUp(store: Store, docs: Doc[]): Promise<void> {
  const outcomes = await store.bulkWrite(docs);
  if (!outcomes.every((o) => o.ok)) throw new Error(`setup: ${JSON.stringify(outcomes.filter((o) => !o.ok))}`);
}

forEachBackend((backend) => {
  test(`${backend.name}: every count edw status shows is the number of exactly the documents edw list lists with that row's stage and that column's state`, async (t) => {
    const store = await backend.open(t);
    const {docs, expected} = fixture(NOW);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await setUp(store, docs);
    const fromView = await statusFromView(store, STEPS, NOW);
    const fromCounts = statusFromCounts(await refreshCounts(store), STEPS, NOW);
    t.deepEqual(fromCounts, fromView, 'both ways of counting agree');
    const seen = new Set<string>();
    for (const [which, status] of [['view', fromView], ['counts', fromCounts]] as Array<[string, StatusCounts]>) {
      t.deepEqual(Object.keys(status.by_stage).sort(), [...new Set([...expected.values()].map(([stage]) => stage).concat('new', STEPS))].sort(), `${which}: one row per stage`);
      for (const [stage, row] of Object.entries(status.by_stage)) {
        for (const state of DOC_STATES) {
          const {ids} = await listIds(store, {stage, state, limit: 1000});
          t.deepEqual(ids.sort(), idsAt(expected, stage, state), `${which}: list --stage ${stage} --${state}`);
          t.is(row[state], ids.length, `${which}: status counts what list --stage ${stage} --${state} lists`);
          if (row[state] > 0) seen.add(state);
        }
        const {ids} = await listIds(store, {stage, limit: 1000});
        t.deepEqual(ids.sort(), idsAt(expected, stage), `${which}: list --stage ${stage} lists every document of the row`);
        t.is(status.stages[stage], ids.length);
      }
    }
    t.deepEqual([...seen].sort(), [...DOC_STATES].sort(), 'the fixture has documents in every state');
  });

  test(`${backend.name}: a listing cut into pages by limit, continued after the last id, gives every document once`, async (t) => {
    const store = await backend.open(t);
    const {docs, expected} = fixture(NOW);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await setUp(store, docs);
    for (const [stage, state, run] of [['new', undefined, undefined], ['new', 'waiting', undefined], ['new', 'waiting', 'run_b'], ['move_to_sps', 'in_progress', undefined], ['ingest_detections', 'done', undefined]] as Array<[string, DocState | undefined, string | undefined]>) {
      const all: string[] = [];
      let after: string | undefined;
      for (let calls = 0; ; calls++) {
        const page = await listIds(store, {stage, limit: 1, ...(state ? {state} : {}), ...(run ? {run} : {}), ...(after ? {after} : {})});
        t.true(page.ids.length <= 1);
        all.push(...page.ids);
        if (page.next === undefined) break;
        t.is(page.next, page.ids[0], 'next is the last id listed');
        after = page.next;
        if (calls > 20) throw new Error('no end');
      }
      const wanted = idsAt(expected, stage, state).filter((id) => run === undefined || (id.startsWith('b-') ? 'run_b' : 'run_a') === run);
      t.deepEqual([...all].sort(), wanted, `${stage} ${state ?? 'all'} ${run ?? ''}`);
      t.is(new Set(all).size, all.length, 'no document twice');
    }
  });

  test(`${backend.name}: a row of edw status that counts a document as failed is where edw list --stage ROW --failed finds it, for every cell of the table`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const now = Date.now();
    const {docs, expected} = fixture(now);
    const store = await ws.open();
    await setUp(store, docs);
    await store.close();
    const status = await edw('--config', ws.configPath, 'status');
    t.is(status.code, 0, status.err.join('\n'));
    const [header, ...rows] = status.out;
    const columns = header!.split(/\s{2,}/);
    t.deepEqual(columns, ['stage', 'documents', 'next step', 'waiting', 'in-progress', 'retrying', 'failed', 'done', 'bad']);
    let cells = 0;
    for (const line of rows.filter((l) => !/^(total|\()/.test(l))) {
      const [stage, , , ...counts] = line.split(/\s{2,}/);
      for (const [i, column] of columns.slice(3).entries()) {
        const n = Number(counts[i]);
        if (n === 0) continue;
        cells++;
        const list = await edw('--config', ws.configPath, 'list', '--stage', stage!, `--${column}`, '--json');
        t.is(list.code, 0, list.err.join('\n'));
        const ids = (JSON.parse(list.out.join('\n')) as DataFileDoc[]).map((d) => d._id).sort();
        t.deepEqual(ids, idsAt(expected, stage!, column.replace('-', '_') as DocState), `edw list --stage ${stage} --${column}`);
        t.is(ids.length, n, `the count in row ${stage}, column ${column}`);
      }
    }
    t.is(cells, 13, 'every nonzero cell was checked');
    const failedRow = rows.find((l) => l.startsWith('new '))!.split(/\s{2,}/);
    t.is(failedRow[2], 'move_to_sps', 'the row of new says what its documents wait for');
    t.is(failedRow[columns.indexOf('failed')], '1', 'failed at move_to_sps: counted in the row of the stage it stands at');
  });
});

test('list tells done, waiting, in progress, retrying and failed apart, with the next try time and the failed step, attempts and error', async (t) => {
  const ws = await workspace(t);
  const now = Date.now();
  const {docs} = fixture(now);
  const store = await ws.open();
  await setUp(store, docs);
  await store.close();
  const lines = async (stage: string): Promise<string[]> => {
    const list = await edw('--config', ws.configPath, 'list', '--stage', stage);
    t.is(list.code, 0, list.err.join('\n'));
    return list.out;
  };
  const at = (ms: number): string => new Date(ms).toISOString();
  const atNew = await lines('new');
  t.true(atNew.includes('new-waiting-1  run run_a  waiting for move_to_sps'), atNew.join('\n'));
  t.true(atNew.includes('new-expired-claim  run run_a  waiting for move_to_sps'));
  t.true(atNew.includes(`new-claimed  run run_a  in progress: move_to_sps by host:1:a until ${at(now + 3_600_000)}`));
  t.true(atNew.includes(`new-retrying  run run_a  retrying move_to_sps at ${at(now + 300_000)} (1 attempt failed): connection reset`));
  t.true(atNew.includes('new-failed  run run_a  failed at move_to_sps after 1 attempt: md5 mismatch'));
  t.true(atNew.includes('new-bad  run run_a  bad (status bad)'));
  const moved = await lines('move_to_sps');
  t.true(moved.includes(`moved-retrying  run run_a  retrying signal_processing at ${at(now + 60_000)} (2 attempts failed): connection reset`), moved.join('\n'));
  t.true(moved.includes('moved-failed  run run_a  failed at signal_processing after 3 attempts: md5 mismatch'));
  t.true(moved.some((l) => l.startsWith('moved-retry-running  run run_a  in progress: signal_processing')));
  const last = await lines('ingest_detections');
  t.true(last.includes('done-1  run run_a  done'), last.join('\n'));
  t.true(last.includes('b-done-2  run run_b  done'));
  const both = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--failed', '--retrying');
  t.is(both.code, 2);
  t.is(both.err[0], 'edw: list takes one state at a time (got --retrying and --failed)');
});

test('list stops at --limit and says on stderr the exact command that lists the next page; the last page says nothing', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await setUp(store, ['a', 'b', 'c', 'd', 'e'].map((id) => file(`w-${id}`, [])));
  await store.close();
  const ids: string[] = [];
  let args = ['--config', ws.configPath, 'list', '--stage', 'new', '--waiting', '--limit', '2'];
  for (let page = 0; page < 3; page++) {
    const list = await edw(...args);
    t.is(list.code, 0, list.err.join('\n'));
    ids.push(...list.out.map((l) => l.split(' ')[0]!));
    if (page < 2) {
      t.deepEqual(list.err, [`more: edw --config ${ws.configPath} list --stage new --waiting --limit 2 --after ${ids[ids.length - 1]}`]);
      args = list.err[0]!.replace(/^more: edw /, '').split(' ');
    } else {
      t.deepEqual(list.err, [], 'nothing more after the last page');
    }
  }
  t.deepEqual(ids, ['w-a', 'w-b', 'w-c', 'w-d', 'w-e']);
  const exact = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--limit', '5');
  t.is(exact.out.length, 5);
  t.deepEqual(exact.err, [], 'a page that ends exactly at the last document says nothing more');
});

test('list --json writes a long answer a page at a time, together one JSON array; a short one is one line as before', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const docs = Array.from({length: 450}, (_, i) => file(`f-${String(i).padStart(3, '0')}`, []));
  await setUp(store, docs);
  await store.close();
  const long = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--limit', '1000', '--json');
  t.is(long.code, 0, long.err.join('\n'));
  t.true(long.out.length >= 3, `written in pages (${long.out.length} lines), not collected into one`);
  const all = JSON.parse(long.out.join('\n')) as DataFileDoc[];
  t.deepEqual(all.map((d) => d._id), docs.map((d) => d._id));
  t.deepEqual(all[0], {...docs[0], _rev: all[0]!._rev});
  const short = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--limit', '3', '--json');
  t.is(short.out.length, 1);
  t.deepEqual(short.out[0], JSON.stringify(all.slice(0, 3)));
  const none = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--failed', '--json');
  t.deepEqual(none.out, ['[]']);
});

test('show says "after 1 attempt" and "after 3 attempts"; retry of a missing document says so on a line beginning "edw: "', async (t) => {
  const ws = await workspace(t);
  const {docs} = fixture(Date.now());
  const store = await ws.open();
  await setUp(store, docs);
  await store.close();
  const one = await edw('--config', ws.configPath, 'show', 'new-failed');
  t.true(one.out.includes('failed for good at move_to_sps after 1 attempt: md5 mismatch (edw retry new-failed)'), one.out.join('\n'));
  const three = await edw('--config', ws.configPath, 'show', 'moved-failed');
  t.true(three.out.includes('failed for good at signal_processing after 3 attempts: md5 mismatch (edw retry moved-failed)'), three.out.join('\n'));
  const retry = await edw('--config', ws.configPath, 'retry', 'no-such-doc', 'new-failed');
  t.is(retry.code, 1);
  t.deepEqual(retry.err, ['edw: no data-file document no-such-doc']);
  t.deepEqual(retry.out, ['retry new-failed']);
});
