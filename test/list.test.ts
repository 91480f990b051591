import test from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {DOC_STATES, listDocuments, statusFromCounts, statusFromView, type DocState, type ListOptions, type StatusCounts} from '../lib/inspect/index.js';
import {refreshCounts} from '../lib/counts/index.js';
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
 * Documents in every state at several stages, at time `now`, each with the row and state status and
 * list must agree on (a document inside a step is in that step's row); plus documents that are not data files.
 */
function fixture(now: number): {docs: Doc[]; expected: Map<string, [string, DocState]>} {
  const moved = ['move_to_sps'];
  const rows: Array<[Doc, string, DocState]> = [
    [file('new-waiting-1', []), 'new', 'waiting'],
    [file('b-new-waiting-2', []), 'new', 'waiting'],
    [file('new-expired-claim', [], {edw: {token: 1, claim: claim('move_to_sps', now - 1)}}), 'new', 'waiting'],
    [file('new-claimed', [], {edw: {token: 1, claim: claim('move_to_sps', now + 3_600_000)}}), 'move_to_sps', 'in_progress'],
    [file('new-retrying', [], {edw: {retry: retry('move_to_sps', now + 300_000)}}), 'move_to_sps', 'retrying'],
    [file('new-failed', [], {edw: {failed: failed('move_to_sps', 1)}}), 'move_to_sps', 'failed'],
    [file('new-bad', [], {status: 'bad'}), 'new', 'bad'],
    [file('new-excluded', [], {periods: [{period: 'power-cut', kind: 'exclude', action: 'add', reason: 'power cut', at: '2026-01-01T00:00:00.000Z', by: 'a@b'}]}), 'new', 'excluded'],
    [file('moved-excluded', moved, {periods: [{period: 'power-cut', kind: 'exclude', action: 'add', reason: 'power cut', at: '2026-01-01T00:00:00.000Z', by: 'a@b'}]}), 'move_to_sps', 'excluded'],
    [file('moved-waiting', moved), 'move_to_sps', 'waiting'],
    [file('moved-retry-running', moved, {edw: {token: 3, retry: retry('signal_processing', now - 1000, 2), claim: claim('signal_processing', now + 3_600_000)}}), 'signal_processing', 'in_progress'],
    [file('moved-retrying', moved, {edw: {retry: retry('signal_processing', now + 60_000, 2)}}), 'signal_processing', 'retrying'],
    [file('moved-failed', moved, {edw: {failed: failed('signal_processing', 3)}}), 'signal_processing', 'failed'],
    [file('processed-claimed', ['move_to_sps', 'signal_processing'], {edw: {token: 4, claim: claim('ingest_detections', now + 3_600_000)}}), 'ingest_detections', 'in_progress'],
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

function idsAt(expected: Map<string, [string, DocState]>, row: string, state?: DocState): string[] {
  return [...expected].filter(([, [r, st]]) => r === row && (state === undefined || st === state)).map(([id]) => id).sort();
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
  test(`${backend.name}: every count edw status shows is the number of exactly the documents edw list lists with that row and that column's state, and a row's total what edw list lists with that row alone`, async (t) => {
    const store = await backend.open(t);
    const {docs, expected} = fixture(NOW);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await setUp(store, docs);
    const fromView = await statusFromView(store, STEPS, NOW);
    const fromCounts = statusFromCounts(await refreshCounts(store), STEPS, NOW);
    t.deepEqual(fromCounts, fromView, 'both ways of counting agree');
    const seen = new Set<string>();
    for (const [which, status] of [['view', fromView], ['counts', fromCounts]] as Array<[string, StatusCounts]>) {
      t.deepEqual(Object.keys(status.rows).sort(), [...new Set([...expected.values()].map(([row]) => row).concat('new', STEPS))].sort(), `${which}: one row for new, each step, and each other stage documents stand at`);
      let cells = 0;
      for (const [row, counts] of Object.entries(status.rows)) {
        for (const state of DOC_STATES) {
          const {ids} = await listIds(store, {stage: row, state, limit: 1000});
          t.deepEqual(ids.sort(), idsAt(expected, row, state), `${which}: list --stage ${row} --${state}`);
          t.is(counts[state], ids.length, `${which}: status counts what list --stage ${row} --${state} lists`);
          if (counts[state] > 0) {
            seen.add(state);
            cells++;
          }
        }
        const {ids} = await listIds(store, {stage: row, limit: 1000});
        t.deepEqual(ids.sort(), idsAt(expected, row), `${which}: list --stage ${row} lists every document of the row`);
        t.is(DOC_STATES.reduce((n, s) => n + counts[s], 0), ids.length, `${which}: the total of row ${row} is what list --stage ${row} lists`);
      }
      t.is(cells, 15, `${which}: every nonzero cell was checked`);
      t.is(status.rows.new!.in_progress + status.rows.new!.retrying + status.rows.new!.failed, 0, `${which}: no document is inside a step in row new`);
    }
    t.deepEqual([...seen].sort(), [...DOC_STATES].sort(), 'the fixture has documents in every state');
    t.deepEqual(fromView.stages, {new: 8, move_to_sps: 5, signal_processing: 1, ingest_detections: 3, old_step: 1}, 'stages: where documents stand, as before');
    t.deepEqual(fromView.failed, {move_to_sps: 1, signal_processing: 1, ingest_detections: 0}, 'failed: keyed by the failing step, as before');
    t.deepEqual(fromView.in_progress, {move_to_sps: 1, signal_processing: 1, ingest_detections: 1}, 'in_progress: keyed by step, as before');
  });

  test(`${backend.name}: a document failed at move_to_sps is counted by status in row move_to_sps as failed and listed by edw list --stage move_to_sps --failed, not by --stage new --failed`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    await setUp(store, [file('sps-failed', [], {edw: {failed: failed('move_to_sps', 3)}}), file('waiting', [])]);
    await store.close();
    const json = await edw('--config', ws.configPath, 'status', '--json');
    t.is(json.code, 0, json.err.join('\n'));
    const status = JSON.parse(json.out[0]!) as StatusCounts;
    t.is(status.rows.move_to_sps!.failed, 1);
    t.is(status.rows.new!.failed, 0);
    t.is(status.failed.move_to_sps, 1);
    const table = await edw('--config', ws.configPath, 'status');
    const columns = table.out[1]!.split(/\s{2,}/);
    const row = table.out.find((l) => l.startsWith('move_to_sps '))!.split(/\s{2,}/);
    t.is(row[columns.indexOf('failed')], '1', table.out.join('\n'));
    const listed = async (stage: string): Promise<string[]> => {
      const list = await edw('--config', ws.configPath, 'list', '--stage', stage, '--failed', '--json');
      t.is(list.code, 0, list.err.join('\n'));
      return (JSON.parse(list.out.join('\n')) as DataFileDoc[]).map((d) => d._id);
    };
    t.deepEqual(await listed('move_to_sps'), ['sps-failed']);
    t.deepEqual(await listed('new'), []);
  });

  test(`${backend.name}: a listing cut into pages by limit, continued after the last id, gives every document once`, async (t) => {
    const store = await backend.open(t);
    const {docs, expected} = fixture(NOW);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    await setUp(store, docs);
    for (const [stage, state, run] of [['new', undefined, undefined], ['new', 'waiting', undefined], ['new', 'waiting', 'run_b'], ['move_to_sps', 'in_progress', undefined], ['move_to_sps', undefined, undefined], ['ingest_detections', undefined, undefined], ['ingest_detections', 'done', undefined]] as Array<[string, DocState | undefined, string | undefined]>) {
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

  test(`${backend.name}: each nonzero cell of the status table is what edw list --stage ROW --COLUMN lists, and each row's documents what edw list --stage ROW lists`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const now = Date.now();
    const {docs, expected} = fixture(now);
    const store = await ws.open();
    await setUp(store, docs);
    await store.close();
    const status = await edw('--config', ws.configPath, 'status');
    t.is(status.code, 0, status.err.join('\n'));
    const [group, header, ...rows] = status.out;
    const columns = header!.split(/\s{2,}/);
    t.deepEqual(columns, ['stage', 'documents', 'waiting (for next step)', 'in-progress', 'retrying', 'failed', 'done', 'bad', 'excluded']);
    t.is(group!.indexOf('<'), header!.indexOf('in-progress'), 'the group line starts over in-progress');
    t.is(group!.indexOf('>'), header!.indexOf('failed') + 'failed'.length - 1, 'and ends over failed');
    t.regex(group!, /inside the step/);
    const listed = async (...args: string[]): Promise<string[]> => {
      const list = await edw('--config', ws.configPath, 'list', ...args, '--json');
      t.is(list.code, 0, list.err.join('\n'));
      return (JSON.parse(list.out.join('\n')) as DataFileDoc[]).map((d) => d._id).sort();
    };
    let cells = 0;
    for (const line of rows.filter((l) => !/^(total|conflicted:|\()/.test(l))) {
      const [row, documents, ...counts] = line.split(/\s{2,}/);
      t.deepEqual(await listed('--stage', row!), idsAt(expected, row!), `edw list --stage ${row}`);
      t.is(idsAt(expected, row!).length, Number(documents), `the documents of row ${row}`);
      for (const [i, state] of DOC_STATES.entries()) {
        const n = Number(counts[i]);
        if (n === 0) continue;
        cells++;
        const option = `--${state.replace('_', '-')}`;
        const ids = await listed('--stage', row!, option);
        t.deepEqual(ids, idsAt(expected, row!, state), `edw list --stage ${row} ${option}`);
        t.is(ids.length, n, `the count in row ${row}, column ${columns[i + 2]}`);
      }
    }
    t.is(cells, 15, 'every nonzero cell was checked');
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
  t.true(atNew.includes('new-bad  run run_a  bad (status bad)'));
  const sps = await lines('move_to_sps');
  t.true(sps.includes('moved-waiting  run run_a  waiting for signal_processing'), sps.join('\n'));
  t.true(sps.includes(`new-claimed  run run_a  in progress: move_to_sps by host:1:a until ${at(now + 3_600_000)}`));
  t.true(sps.includes(`new-retrying  run run_a  retrying move_to_sps at ${at(now + 300_000)} (1 attempt failed): connection reset`));
  t.true(sps.includes('new-failed  run run_a  failed at move_to_sps after 1 attempt: md5 mismatch'));
  const processing = await lines('signal_processing');
  t.true(processing.includes(`moved-retrying  run run_a  retrying signal_processing at ${at(now + 60_000)} (2 attempts failed): connection reset`), processing.join('\n'));
  t.true(processing.includes('moved-failed  run run_a  failed at signal_processing after 3 attempts: md5 mismatch'));
  t.true(processing.some((l) => l.startsWith('moved-retry-running  run run_a  in progress: signal_processing')));
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

test('show says "after 1 attempt" and "after 3 attempts"; retry of a missing document says so on a line beginning "edw: "; retry --step with nothing failed says so on stdout and exits 0', async (t) => {
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
  const none = await edw('--config', ws.configPath, 'retry', '--step', 'ingest_detections');
  t.is(none.code, 0);
  t.deepEqual(none.out, ['no document has failed at ingest_detections'], 'a notice of what was done, like "ID has not failed, left as it is"');
  t.deepEqual(none.err, []);
});

test('the next-page command of a whole row still works after the last listed document has left the row', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  // Row move_to_sps, read whole: three waiting (they completed it), then one failed (inside it, read at stage new).
  await setUp(store, [
    file('m-a', ['move_to_sps']), file('m-b', ['move_to_sps']), file('m-c', ['move_to_sps']),
    file('f-a', [], {edw: {failed: failed('move_to_sps', 3)}} as Partial<DataFileDoc>),
  ]);
  await store.close();
  const first = await edw('--config', ws.configPath, 'list', '--stage', 'move_to_sps', '--limit', '2');
  t.is(first.code, 0, first.err.join('\n'));
  t.deepEqual(first.out.map((l) => l.split(' ')[0]), ['m-a', 'm-b']);
  t.is(first.err.length, 1);
  t.regex(first.err[0]!, / --after m-b --after-source waiting@move_to_sps$/);
  // m-b moves on (signal_processing completes): it is in row signal_processing now.
  const moved = await ws.open();
  const doc = (await moved.get('m-b')) as DataFileDoc;
  await moved.put({...doc, process: [...doc.process, {name: 'signal_processing', status: 'done', started: '2026-11-24T10:00:02Z', finished: '2026-11-24T10:00:03Z'}]} as Doc);
  await moved.close();
  const next = await edw(...first.err[0]!.replace(/^more: edw /, '').split(' '));
  t.is(next.code, 0, next.err.join('\n'));
  t.deepEqual(next.out.map((l) => l.split(' ')[0]), ['m-c', 'f-a']);
  t.deepEqual(next.err, []);
});
