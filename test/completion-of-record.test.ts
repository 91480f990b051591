// Issue 14, one completion of record: two completed entries of one step and version that a conflict
// merge brings together stay in the history, one of them the completion of record and the other marked
// as superseded by it, the same whichever revision wins and whichever process merges.
import test from 'ava';
import {compileDesignDocs, DESIGN, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {ForbiddenError} from '../lib/errors/index.js';
import {stageOf, type DataFileDoc, type ProcessEntry} from '../lib/pipeline/index.js';
import {resolveConflicts} from '../lib/runtime/index.js';
import {openStore} from '../lib/store/index.js';
import {backends, testServer} from './helpers/backends.js';
import {completions, completionsOfRecord} from './helpers/chain.js';
import {edw} from './helpers/cli.js';
import {writeConflict} from './helpers/conflicts.js';
import {startFaultProxy} from './helpers/fault-proxy.js';
import {workspace} from './helpers/workspace.js';

const at = (ms: number): string => new Date(Date.UTC(2026, 0, 1) + ms).toISOString();
const done = (name: string, ms: number, host: string, token = 2): ProcessEntry =>
  ({name, status: 'done', started: at(ms - 100), finished: at(ms), host, version: '1', attempt: 1, token});
const base = (id: string): DataFileDoc => ({_id: id, status: 'good', run: 'r', process: []});

// The one that finished first is the record; the same step completed 1.3 s later on another copy.
const first = done('ingest_detections', 1000, 'node-b');
const second = done('ingest_detections', 2300, 'node-a');
const marked = {...second, superseded: {by: {finished: first.finished, started: first.started, host: 'node-b', attempt: 1, token: 2}}};

for (const backend of backends) {
  test(`${backend.name}: two completed entries of one step and version are merged into one completion of record, the same whichever revision wins and whichever process merges`, async (t) => {
    const design = await compileDesignDocs(DESIGN_DOCS_DIR);
    for (const [winning, losing] of [[first, second], [second, first]] as const) {
      const url = await backend.freshUrl(t);
      const store = await backend.open(t, {url});
      const other = await backend.openOther(t, url, store);
      await writeConflict(store, base('d'), [winning], [losing]);
      await pushDesignDocs(store, design);
      t.is(((await store.get('d')) as DataFileDoc).process[0]!.host, winning.host, 'the setup: this branch wins');
      // Two processes merge at once: one write wins, the other meets a conflict, reads again and finds
      // nothing left to merge, or merges what it reads the same way.
      const results = (await Promise.all([resolveConflicts(store, 'd'), resolveConflicts(other, 'd')])) as DataFileDoc[];
      const label = `${winning.host} on the winning revision`;
      for (const merged of results) t.deepEqual(merged.process, [first, marked], label);
      const after = (await store.get('d', {conflicts: true})) as DataFileDoc;
      t.is(after._conflicts, undefined, label);
      t.deepEqual(after.process, [first, marked], label);
      t.is(stageOf(after), 'ingest_detections');
    }
  });

  test(`${backend.name}: a re-execution merged from a stale branch does not move the stage back, in the stage view either`, async (t) => {
    const design = await compileDesignDocs(DESIGN_DOCS_DIR);
    const move = done('move_to_sps', 1000, 'h');
    const signal = done('signal_processing', 2000, 'h');
    const again = done('move_to_sps', 3000, 'stale');
    for (const swap of [false, true]) {
      const store = await backend.open(t);
      const [winning, losing] = swap ? [[again], [move, signal]] : [[move, signal], [again]];
      await writeConflict(store, base('s'), winning, losing);
      await pushDesignDocs(store, design);
      const merged = (await resolveConflicts(store, 's')) as DataFileDoc;
      t.deepEqual(merged.process.map((e) => [e.name, e.host, !!e.superseded]), [['move_to_sps', 'h', false], ['signal_processing', 'h', false], ['move_to_sps', 'stale', true]]);
      t.is(stageOf(merged), 'signal_processing');
      t.deepEqual(completionsOfRecord(merged), {move_to_sps: 1, signal_processing: 1});
      t.deepEqual(completions(merged), {move_to_sps: 2, signal_processing: 1}, 'the re-execution stays in the history');
      const {rows} = await store.query({design: DESIGN, view: 'stage', reduce: false});
      t.deepEqual(rows.map((r) => r.key), [['signal_processing', 'ready', 's']], `the view, ${swap ? 'the stale branch' : 'the full one'} winning`);
    }
  });

  test(`${backend.name}: the database accepts a superseded mark added to a completed entry, and refuses removing or changing it`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const rev1 = await store.put({...base('v'), process: [first, second]});
    const rev2 = await store.put({...base('v'), _rev: rev1, process: [first, marked]});
    const refusals: Array<[string, ProcessEntry[]]> = [
      ['the mark removed', [first, second]],
      ['the mark changed', [first, {...marked, superseded: {by: {host: 'someone-else'}}}]],
      ['the mark kept, the entry changed', [first, {...marked, host: 'node-c'}]],
    ];
    for (const [what, process] of refusals) {
      const error = await t.throwsAsync(store.put({...base('v'), _rev: rev2, process}), {instanceOf: ForbiddenError}, what);
      t.regex(error?.message ?? '', /process is append-only: entry 1 was changed or removed/, what);
    }
    const kept = (await store.get('v')) as DataFileDoc;
    t.is(kept._rev, rev2);
    t.deepEqual(kept.process, [first, marked]);
  });
}

test('through the fault proxy: a merge whose write meets a conflict merges again and marks the same record', async (t) => {
  const server = await testServer();
  const proxy = await startFaultProxy(server.url);
  t.teardown(() => proxy.close());
  const directUrl = server.databaseUrl('edw-record');
  t.teardown(() => server.deleteDatabase(directUrl));
  const direct = await openStore({url: directUrl, create: true});
  t.teardown(() => direct.close());
  const store = await openStore({url: proxy.databaseUrl(directUrl)});
  t.teardown(() => store.close());
  await writeConflict(direct, base('p'), [second], [first]);
  await pushDesignDocs(direct, await compileDesignDocs(DESIGN_DOCS_DIR));
  const refused = proxy.conflictOn('p', 1);
  const merged = (await resolveConflicts(store, 'p')) as DataFileDoc;
  t.is(refused.hits, 1, 'the first merge write was refused');
  t.deepEqual(merged.process, [first, marked]);
  const after = (await direct.get('p', {conflicts: true})) as DataFileDoc;
  t.is(after._conflicts, undefined);
  t.deepEqual(after.process, [first, marked]);
});

test('edw show marks a superseded re-execution and names its completion of record; status and list count the stage of record', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const move = done('move_to_sps', 1000, 'h');
  const signal = done('signal_processing', 2000, 'h');
  const again = {...done('move_to_sps', 3000, 'stale'), superseded: {by: {finished: move.finished, started: move.started, host: 'h', attempt: 1, token: 2}}};
  await store.put({...base('shown'), process: [move, signal, again]});
  await store.close();
  const show = await edw('--config', ws.configPath, 'show', 'shown');
  t.is(show.code, 0, show.err.join('\n'));
  t.regex(show.out[0]!, /stage signal_processing/);
  t.regex(show.out[1]!, /^ {2}1\. move_to_sps +done /);
  t.regex(show.out[3]!, /^ {2}3\. move_to_sps +superseded +2026-01-01T00:00:03\.000Z {2}stale v1 #1 .*\(superseded by entry 1\)$/);
  const status = await edw('--config', ws.configPath, 'status', '--json');
  t.like(JSON.parse(status.out[0]!), {total: 1, stages: {move_to_sps: 0, signal_processing: 1}});
  const list = await edw('--config', ws.configPath, 'list', '--stage', 'signal_processing', '--json');
  t.deepEqual((JSON.parse(list.out[0]!) as DataFileDoc[]).map((d) => d._id), ['shown']);
});
