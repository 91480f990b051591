import {writeFile, readFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {loadConfig} from '../lib/config/index.js';
import {statusCounts} from '../lib/inspect/index.js';
import {stageOf, type DataFileDoc} from '../lib/pipeline/index.js';
import {addPeriod, lineage, provenanceReport, removePeriod, reprocess, resolveTargets, versionCounts} from '../lib/provenance/index.js';
import {allDataDocs, drain, simulateAndRegister} from './helpers/chain.js';
import {backends} from './helpers/backends.js';
import {workspace} from './helpers/workspace.js';

for (const backend of backends) {
  test(`${backend.name}: a period thrown out, a reprocessing at a new version and lineage, through the library`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 4, 3);
    const docs = await allDataDocs(store, ids);
    const {marked} = await addPeriod(store, {name: 'power-cut', from: docs[1]!.file_mtime!, to: docs[1]!.file_mtime!, reason: 'power cut'});
    t.deepEqual(marked, [ids[1]]);
    await drain(store, ws.config);
    t.deepEqual((await allDataDocs(store, ids)).map((d) => d.process.length), [3, 0, 3, 3]);
    const status = await statusCounts(store, ws.config.steps.map((s) => s.name));
    t.is(status.rows.new!.excluded, 1);

    // signal_processing v2, then a campaign over the run.
    await writeFile(ws.configPath, (await readFile(ws.configPath, 'utf8')).replace('kind = signal_processing\n', 'kind = signal_processing\nversion = 2\n'));
    const config = loadConfig({path: ws.configPath, explicit: true, env: {}});
    const chain = config.steps.map((s) => ({name: s.name, after: s.after, version: s.version ?? '1'}));
    const before = await allDataDocs(store, ids);
    const record = await reprocess(store, {chain, step: 'signal_processing', version: '2', targets: await resolveTargets(store, {run: ['ma22a000']}), reason: 'new fit'});
    t.deepEqual(record.marked, [ids[0], ids[2], ids[3]]);
    t.deepEqual(record.skipped.map((s) => s.id), [ids[1]]);
    for (const doc of await allDataDocs(store, [ids[0]!])) t.is(stageOf(doc), 'move_to_sps');
    t.deepEqual((await versionCounts(store, chain)).signal_processing, {configured: '2', current: 0, older: {1: 3}});
    await drain(store, config);
    const after = await allDataDocs(store, ids);
    for (const [i, doc] of after.entries()) {
      if (i === 1) continue;
      t.deepEqual(doc.process.slice(0, 3), before[i]!.process, 'the first processing is kept as it was');
      t.deepEqual(doc.process.slice(3).map((e) => `${e.name} v${e.version} epoch ${e.epoch}`), ['signal_processing v2 epoch 1', 'ingest_detections v1 epoch 1']);
      t.is(stageOf(doc), 'ingest_detections');
    }
    t.deepEqual((await versionCounts(store, chain)).signal_processing, {configured: '2', current: 3, older: {}});

    // Lineage from a detection of each version, back to the raw md5.
    const rows = (await store.query({design: 'edw', view: 'detections_by_source', key: ids[0], reduce: false})).rows.map((r) => r.id!);
    for (const versions of ['1.1', '2.1']) {
      const id = rows.find((r) => r.endsWith(`:${versions}`))!;
      t.truthy(id, `a detection of versions ${versions}`);
      const l = await lineage(store, id);
      t.is(l.documents_read, 2);
      t.is(l.back[0]!.inputs[0]!.md5, after[0]!.md5sum);
      t.is(l.back[1]!.version, versions[0]);
    }

    // Taking the period back lets its file be processed, at the configured versions.
    await removePeriod(store, 'power-cut', 'wrong range');
    await drain(store, config);
    const freed = (await store.get(ids[1]!)) as DataFileDoc;
    t.deepEqual(freed.process.map((e) => `${e.name} v${e.version}`), ['move_to_sps v1', 'signal_processing v2', 'ingest_detections v1']);
    const report = await provenanceReport(store, await resolveTargets(store, {ids: [ids[1]!, 'nothing']}));
    t.deepEqual(report.missing, ['nothing']);
    t.deepEqual(report.periods.map((p) => [p.name, p.removed?.reason, p.files_in_force]), [['power-cut', 'wrong range', []]]);
  });
}

for (const backend of backends) {
  test(`${backend.name}: a period added while files are being registered still marks those that fall in it`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t)});
    const store = await ws.open();
    const {simulate} = await import('../lib/simulate/index.js');
    const {registerFiles} = await import('../lib/register/index.js');
    const md5File = (await import('md5-file')).default;
    const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 2, events: 1, seed: 3});
    let added = false;
    // The period is added after register read the periods in force and before it writes: its search finds nothing.
    const report = await registerFiles({store, paths: sim.files, settleMs: 0, hashFile: async (path) => {
      if (!added) {
        added = true;
        const {marked} = await addPeriod(store, {name: 'late', from: 0, to: 4_000_000_000, reason: 'power cut'});
        t.deepEqual(marked, []);
      }
      return md5File(path);
    }});
    t.is(report.created.length, 2);
    for (const doc of await allDataDocs(store, report.created)) t.deepEqual(doc.periods?.map((m) => m.period), ['late']);
  });
}
