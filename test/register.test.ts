import {utimes, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import {registerFiles} from '../lib/register/index.js';
import {simulate} from '../lib/simulate/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {drain} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';

test('a directory registers its settled data files matching the glob; explicit files are taken as given', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 3, events: 2});
  const old = new Date(Date.now() - 60_000);
  for (const file of sim.files.slice(0, 2)) await utimes(file, old, old);
  await writeFile(join(ws.dir, 'raw', 'notes.txt'), 'not data');
  const now = Date.now();
  const report = await registerFiles({store, paths: [join(ws.dir, 'raw')], settleMs: 10_000, now: () => now});
  t.deepEqual(report.created, ['ma22a000_000', 'ma22a000_001']);
  t.deepEqual(report.settling, [sim.files[2]]);
  const explicit = await registerFiles({store, paths: [sim.files[2]!, join(ws.dir, 'raw', 'notes.txt')], settleMs: 10_000});
  t.deepEqual(explicit.created, ['ma22a000_002', 'notes']);
  const doc = (await store.get('ma22a000_000')) as DataFileDoc;
  t.like(doc, {run: 'ma22a000', status: 'good', original_file: sim.files[0], process: [], conditions: {}});
  t.is(typeof doc.datecreated, 'number');
  t.true(Math.abs(doc.datecreated! - now / 1000) < 1);
  t.regex(doc.md5sum!, /^[0-9a-f]{32}$/);
});

test('thousands of files go through _bulk_docs in batches, with progress after each batch', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const dir = join(ws.dir, 'many');
  const {mkdir} = await import('node:fs/promises');
  await mkdir(dir);
  for (let i = 0; i < 1200; i++) await writeFile(join(dir, `run7_${String(i).padStart(4, '0')}.edwr`), String(i));
  const progress: number[] = [];
  const report = await registerFiles({store, paths: [dir], settleMs: 0, batchSize: 500, onProgress: (done) => progress.push(done)});
  t.is(report.created.length, 1200);
  t.deepEqual(progress, [500, 1000, 1200]);
  t.is((await statusCounts(store, [])).total, 1200);
});

test('documents whose status is not good are counted as bad and never processed', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 2, events: 2});
  await registerFiles({store, paths: sim.files, settleMs: 0});
  const bad = (await store.get('ma22a000_001')) as DataFileDoc;
  await store.put({...bad, status: 'bad'});
  await drain(store, ws.config);
  t.deepEqual(((await store.get('ma22a000_001')) as DataFileDoc).process, []);
  t.is(((await store.get('ma22a000_000')) as DataFileDoc).process.length, 3);
  const status = await statusCounts(store, ws.config.steps.map((s) => s.name));
  t.is(status.bad, 1);
  t.is(status.stages.new, 1);
  t.is(status.total, 2);
});
