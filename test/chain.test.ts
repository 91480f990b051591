import {readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import {stageOf, type DataFileDoc} from '../lib/pipeline/index.js';
import {fileDigest} from '../lib/files/index.js';
import {allDataDocs, completions, drain, simulateAndRegister} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';
import {backends} from './helpers/backends.js';

for (const backend of backends) {
  test(`${backend.name}: the whole chain processes 50 files, one completed entry per step each`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 50);
    t.is(ids.length, 50);
    const summary = await drain(store, ws.config);
    t.is(summary.completed, 150);
    t.deepEqual(summary.failed, []);
    for (const doc of await allDataDocs(store, ids)) {
      t.is(stageOf(doc), 'ingest_detections');
      t.deepEqual(completions(doc), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1});
      t.is(doc.edw?.claim, undefined);
      const [move, sp, ingest] = doc.process;
      // Each step read the previous step's recorded output, and recorded what it wrote.
      t.is(sp!.result!.input, move!.result!.outputs![0]!.path);
      t.is(ingest!.result!.input, sp!.result!.outputs![0]!.path);
      const copied = await fileDigest(move!.result!.outputs![0]!.path);
      t.is(copied?.md5, doc.md5sum);
      t.like(move, {status: 'done', version: '1', attempt: 1});
      t.truthy(Date.parse(move!.started!) <= Date.parse(move!.finished!));
    }
    const status = await statusCounts(store, ws.config.steps.map((s) => s.name));
    t.deepEqual(status.stages, {new: 0, move_to_sps: 0, signal_processing: 0, ingest_detections: 50});
    t.is(status.total, 50);
  });

  test(`${backend.name}: documents in the seed's shape are processed, a seed entry's file read as its output`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const ids = await simulateAndRegister(store, join(ws.dir, 'seed-src'), 2);
    const [fresh, moved] = (await allDataDocs(store, ids)) as [DataFileDoc, DataFileDoc];
    // Rewrite both exactly as the seed's scripts would: no field of edw's own.
    const seedShape = (doc: DataFileDoc, process: unknown[]) => ({
      _id: `seed_${doc._id}`, status: 'good', md5sum: doc.md5sum, run: doc.run, datecreated: 1378222673.477208, process,
      conditions: {temperature: 0.0158, volts: {detector_a: [8, -8, 2, -2], detector_b: [4, -4, 1.5, -1.5]}}, original_file: doc.original_file,
    });
    await backend.writeRaw(store, seedShape(fresh, []));
    await backend.writeRaw(store, seedShape(moved, [{name: 'move_to_sps', hostname: 'daq', file: moved.original_file, md5sum: moved.md5sum, log: 'copied'}]));
    await drain(store, ws.config);
    const [a, b] = (await store.getMany([`seed_${fresh._id}`, `seed_${moved._id}`])) as [DataFileDoc, DataFileDoc];
    t.is(stageOf(a), 'ingest_detections');
    t.deepEqual(completions(a), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1});
    t.is(stageOf(b), 'ingest_detections');
    t.deepEqual(b.process.map((e) => e.name), ['move_to_sps', 'signal_processing', 'ingest_detections']);
    t.is(b.process[1]!.result!.input, moved.original_file);
    t.is(b.process[0]!.log, 'copied');
  });

  test(`${backend.name}: a data file changed after registration fails move_to_sps at once with both checksums`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1);
    const doc = (await store.get(id!)) as DataFileDoc;
    await writeFile(doc.original_file!, Buffer.concat([await readFile(doc.original_file!), Buffer.from('x')]));
    const summary = await drain(store, ws.config);
    t.is(summary.failed.length, 1);
    const after = (await store.get(id!)) as DataFileDoc;
    t.is(stageOf(after), 'new');
    t.is(after.process.length, 1);
    t.like(after.process[0], {name: 'move_to_sps', status: 'failed', attempt: 1});
    t.regex(after.process[0]!.error!.message, new RegExp(`${doc.md5sum}`));
    t.like(after.edw?.failed, {step: 'move_to_sps', attempts: 1});
    t.is(await fileDigest(join(ws.dir, 'sps', doc.run!, `${id}.edwr`)), null);
    t.like(await statusCounts(store, ws.config.steps.map((s) => s.name)), {failed: {move_to_sps: 1}});
  });

  test(`${backend.name}: a corrupt raw file fails signal_processing and leaves the document at move_to_sps`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const bad = join(ws.dir, 'raw', 'run9_000.edwr');
    await writeFile(bad, 'this is not a raw file at all');
    const {registerFiles} = await import('../lib/register/index.js');
    await registerFiles({store, paths: [bad], settleMs: 0});
    const summary = await drain(store, ws.config);
    t.is(summary.failed.length, 1);
    const doc = (await store.get('run9_000')) as DataFileDoc;
    t.is(stageOf(doc), 'move_to_sps');
    t.like(doc.process[1], {name: 'signal_processing', status: 'failed'});
    t.regex(doc.process[1]!.error!.message, /run9_000\.edwr/);
    t.false(doc.process[1]!.error!.retryable);
  });
}
