import {join} from 'node:path';
import test from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {scanConflicts} from '../lib/conflicts/index.js';
import {statusCounts} from '../lib/inspect/index.js';
import {mergeRevisions, stageOf, type DataFileDoc, type ProcessEntry} from '../lib/pipeline/index.js';
import {resolveConflicts} from '../lib/runtime/index.js';
import type {Store} from '../lib/store/index.js';
import {backends} from './helpers/backends.js';
import {completions, drain, runner, simulateAndRegister} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';

const entry = (name: string, finished: string, host = 'a'): ProcessEntry => ({name, status: 'done', started: finished, finished, host, version: '1', attempt: 1});

test('a merge keeps every entry of every revision once, ordered by time, seed entries first', (t) => {
  const shared = entry('move_to_sps', '2026-01-01T00:00:01.000Z');
  const winner = {_id: 'd', _rev: '3-b', status: 'good', run: 'w', process: [shared, entry('signal_processing', '2026-01-01T00:00:05.000Z', 'x')]} as DataFileDoc;
  const loser = {_id: 'd', _rev: '3-a', status: 'good', run: 'l', process: [{name: 'seed_step', file: '/f'}, shared, entry('signal_processing', '2026-01-01T00:00:03.000Z', 'y')]} as DataFileDoc;
  const merged = mergeRevisions({...winner, _conflicts: ['3-a']}, [loser]);
  t.deepEqual(merged.process.map((e) => e.host ?? e.name), ['seed_step', 'a', 'y', 'x']);
  t.is(merged.run, 'w');
  t.is(merged._conflicts, undefined);
  t.deepEqual(mergeRevisions(winner, [loser]), merged, 'the same revisions always give the same document');
});

/** Put `base`, then write two sibling revisions on top of it, as replication from two sites would. */
async function conflicted(store: Store, base: DataFileDoc, a: ProcessEntry[], b: ProcessEntry[]): Promise<void> {
  const rev1 = await store.put(base);
  const hash = rev1.split('-')[1]!;
  const branch = (suffix: string, process: ProcessEntry[]) => ({...base, _rev: `2-${suffix}`, _revisions: {start: 2, ids: [suffix, hash]}, process});
  await store.writeRevisions([branch('a'.repeat(32), a), branch('b'.repeat(32), b)]);
}

for (const backend of backends) {
  test(`${backend.name}: conflicting revisions are merged into one, the losing revision deleted`, async (t) => {
    const store = await backend.open(t);
    const first = entry('move_to_sps', '2026-01-01T00:00:01.000Z', 'site-a');
    const second = entry('move_to_sps', '2026-01-01T00:00:02.000Z', 'site-b');
    // Before the design docs: pouchdb-server validates a replicated revision against the winning one
    // rather than its parent (CouchDB), and would refuse the second sibling.
    await conflicted(store, {_id: 'c1', status: 'good', process: []} as DataFileDoc, [first], [second]);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    t.is((await store.get('c1', {conflicts: true}))?._conflicts?.length, 1);
    const merged = (await resolveConflicts(store, 'c1')) as DataFileDoc;
    // Two completions of one step and version: the earlier is the record, the other marked by it.
    const marked = {...second, superseded: {by: {finished: first.finished, started: first.started, host: 'site-a', attempt: 1}}};
    t.deepEqual(merged.process, [first, marked]);
    const after = (await store.get('c1', {conflicts: true})) as DataFileDoc;
    t.is(after._conflicts, undefined);
    t.deepEqual(after.process, [first, marked]);
    t.is(after._rev, merged._rev);
  });

  test(`${backend.name}: a listener resolves a conflicted document before it works on it`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
    const doc = (await store.get(id!)) as DataFileDoc;
    const {_rev, ...base} = doc;
    await store.bulkWrite([{...doc, _deleted: true}]);
    // A fresh document with two histories: one site recorded a failed attempt, the other nothing.
    const failed: ProcessEntry = {name: 'move_to_sps', status: 'failed', started: '2026-01-01T00:00:00.000Z', finished: '2026-01-01T00:00:00.500Z', host: 'site-a', version: '1', attempt: 1, error: {message: 'link down', retryable: true}};
    // pouchdb-server silently drops replicated revisions (answering []) while a validate_doc_update
    // exists, which CouchDB does not: create the conflict with the design document out of the way.
    const design = (await store.get('_design/edw'))!;
    await store.bulkWrite([{_id: design._id, _rev: design._rev, _deleted: true}]);
    await conflicted(store, {...base, _id: `${id}-x`} as DataFileDoc, [failed], []);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    t.truthy((await store.get(`${id}-x`, {conflicts: true}))?._conflicts);
    await drain(store, ws.config);
    const after = (await store.get(`${id}-x`, {conflicts: true})) as DataFileDoc;
    t.is(after._conflicts, undefined);
    t.deepEqual(after.process[0], failed);
    t.deepEqual(completions(after), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1});
    t.is(stageOf(after), 'ingest_detections');
  });
}

for (const backend of backends) {
  test(`${backend.name}: a conflict on a document at the final stage is merged by the conflict keeper, without any step running`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
    await drain(store, ws.config);
    const done = (await store.get(id!)) as DataFileDoc;
    t.is(stageOf(done), 'ingest_detections');
    // A copy of it with two histories, both at the final stage: one site also recorded a failed
    // attempt of the last step before its success (as a cluster node that was cut off would).
    const {_rev, ...base} = done;
    const failed: ProcessEntry = {name: 'ingest_detections', status: 'failed', started: '2026-01-01T00:00:00.000Z', finished: '2026-01-01T00:00:00.500Z', host: 'site-b', version: '1', attempt: 1, error: {message: 'node down', retryable: true}};
    const design = (await store.get('_design/edw'))!;
    await store.bulkWrite([{_id: design._id, _rev: design._rev, _deleted: true}]);
    await conflicted(store, {...base, _id: `${id}-x`, process: []} as DataFileDoc, done.process, [failed, ...done.process]);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    t.truthy((await store.get(`${id}-x`, {conflicts: true}))?._conflicts);
    const steps = ws.config.steps.map((s) => s.name);
    t.is((await statusCounts(store, steps)).conflicted, 1, 'edw status counts it');

    // The embedded database is swept only when asked: nothing replicates into it in use.
    const run = await runner(store, ws.config, {conflictsOnEmbedded: true});
    const started: string[] = [];
    for (const listener of run.stepListeners) listener.on('started', (e: {id: string}) => started.push(e.id));
    const merged = new Promise<{id: string}>((resolve) => run.on('conflicts-merged', (e: {id: string}) => e.id === `${id}-x` && resolve(e)));
    const running = run.run();
    t.teardown(() => run.stop(1000));
    await merged;
    await run.stop();
    await running;
    const after = (await store.get(`${id}-x`, {conflicts: true})) as DataFileDoc;
    t.is(after._conflicts, undefined);
    t.deepEqual(after.process[0], failed, 'the losing branch\'s entry is in the history');
    t.is(after.process.length, done.process.length + 1);
    t.is(stageOf(after), 'ingest_detections');
    t.deepEqual(started, [], 'no step ran');
    t.is((await statusCounts(store, steps)).conflicted, 0);
  });
}

for (const backend of backends) {
  test(`${backend.name}: a scan reads again for a while a document with several leaves that is not conflicted when read`, async (t) => {
    const store = await backend.open(t);
    const first = entry('move_to_sps', '2026-01-01T00:00:01.000Z', 'site-a');
    const second = entry('move_to_sps', '2026-01-01T00:00:02.000Z', 'site-b');
    await conflicted(store, {_id: 's1', status: 'good', process: []} as DataFileDoc, [first], [second]);
    const found = await scanConflicts(store, {now: 1000});
    t.deepEqual(found.conflicted, ['s1']);
    await resolveConflicts(store, 's1');
    // Merged: two leaves remain (one deleted), so the feed still shows it as a candidate.
    const after = await scanConflicts(store, {now: 2000});
    t.deepEqual(after.conflicted, []);
    t.deepEqual(after.suspects, {s1: 2000});
    // From the saved position, with nothing new on the feed: still read, until suspectMs has passed.
    t.deepEqual((await scanConflicts(store, {since: after.seq, suspects: after.suspects, now: 3000, suspectMs: 5000})).suspects, {s1: 2000});
    t.deepEqual((await scanConflicts(store, {since: after.seq, suspects: after.suspects, now: 8000, suspectMs: 5000})).suspects, {});
  });
}
