import {mkdir, mkdtemp, readdir, readFile, rm, stat, utimes, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import {registerFiles} from '../lib/register/index.js';
import {simulate} from '../lib/simulate/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {drain} from './helpers/chain.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

test('a directory registers its settled data files matching the glob; explicit files are taken as given', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 3, events: 2});
  // As a DAQ still writing it: modified just now.
  const now = Date.now();
  await utimes(sim.files[2]!, new Date(now), new Date(now));
  await writeFile(join(ws.dir, 'raw', 'notes.txt'), 'not data');
  const report = await registerFiles({store, paths: [join(ws.dir, 'raw')], settleMs: 10_000, now: () => now});
  t.deepEqual(report.created, ['ma22a000_000', 'ma22a000_001']);
  t.deepEqual(report.skipped, [
    {path: sim.conditions, reason: 'not-matching'},
    {path: sim.files[2], reason: 'settling'},
    {path: join(ws.dir, 'raw', 'notes.txt'), reason: 'not-matching'},
    {path: sim.truth, reason: 'not-matching'},
  ]);
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

/** A folder with an edw.ini that keeps the shipped [register] settings (settle = 10s), and its database made. */
async function folderWithDefaults(t: ExecutionContext): Promise<{dir: string; configPath: string}> {
  const dir = await mkdtemp(join(tmpdir(), 'edw-register-'));
  t.teardown(() => rm(dir, {recursive: true, force: true}));
  const configPath = join(dir, 'edw.ini');
  await writeFile(configPath, '[database]\nurl = ./db\n[log]\nlevel = warn\n');
  t.is((await edw('--config', configPath, 'init')).code, 0);
  return {dir, configPath};
}

test('simulate then register at once registers every simulated file: simulated files have nothing left to settle', async (t) => {
  const {dir, configPath} = await folderWithDefaults(t);
  const raw = join(dir, 'raw');
  t.is((await edw('simulate', '--out', raw, '--files', '3', '--events', '2')).code, 0);
  for (const name of await readdir(raw)) t.false(name.includes('partial'), name);
  const registered = await edw('--config', configPath, 'register', raw, '--conditions', join(raw, 'conditions.json'));
  t.is(registered.code, 0, registered.err.join('\n'));
  t.deepEqual(registered.out, ['registered ma22a000_000', 'registered ma22a000_001', 'registered ma22a000_002']);
  t.deepEqual(registered.err.filter((line) => !line.startsWith('registering:')), [
    `skipped in ${raw}: 2 entries not matching *.edwr: conditions.json, truth.json`,
    '3 files registered, 0 replaced, 0 already registered, 2 skipped, 0 failed',
  ]);
  // Each file is dated when its simulated acquisition ended (600 s per file from the seed's start).
  t.is((await stat(join(raw, 'ma22a000_001.edwr'))).mtimeMs, (1378222673 + 2 * 600) * 1000);
});

test('register says what it skipped by reason with counts, names a folder with no matching file, and prints failures as edw: lines', async (t) => {
  const {dir, configPath} = await folderWithDefaults(t);
  const raw = join(dir, 'raw');
  await simulate({outDir: raw, files: 1, events: 2});
  await mkdir(join(raw, 'old.edwr'));
  // Being written (dated ahead, so however slow this machine, they have not settled when register runs).
  const writing = new Date(Date.now() + 3600_000);
  for (const name of ['a.edwr', 'b.edwr']) {
    await writeFile(join(raw, name), name);
    await utimes(join(raw, name), writing, writing);
  }
  await mkdir(join(dir, 'empty'));
  await writeFile(join(dir, 'empty', 'readme.txt'), 'no data here');
  const result = await edw('--config', configPath, 'register', raw, join(dir, 'empty'), join(dir, 'nope.edwr'));
  t.is(result.code, 1);
  t.deepEqual(result.out, ['registered ma22a000_000']);
  t.deepEqual(result.err.filter((line) => !line.startsWith('registering:')), [
    `skipped in ${raw}: 2 files modified less than 10 s ago (may still be written; run register again later): a.edwr, b.edwr`,
    `skipped in ${raw}: 2 entries not matching *.edwr: conditions.json, truth.json`,
    `skipped in ${raw}: 1 entry that is not a regular file: old.edwr`,
    `skipped in ${join(dir, 'empty')}: 1 entry not matching *.edwr: readme.txt`,
    `no files matching *.edwr in ${join(dir, 'empty')}`,
    `edw: ${join(dir, 'nope.edwr')} does not exist`,
    '1 file registered, 0 replaced, 0 already registered, 6 skipped, 1 failed',
  ]);
});

test('simulate writes more than 1,000 files, named so that they sort in id order', async (t) => {
  const dir = await mkdtemp(join(tmpdir(), 'edw-simulate-'));
  t.teardown(() => rm(dir, {recursive: true, force: true}));
  const result = await edw('simulate', '--out', dir, '--files', '1001', '--events', '0');
  t.is(result.code, 0, result.err.join('\n'));
  const names = (await readdir(dir)).filter((name) => name.endsWith('.edwr'));
  t.is(names.length, 1001);
  t.deepEqual([names.sort()[0], names.sort()[1000]], ['ma22a000_0000.edwr', 'ma22a000_1000.edwr']);
  const truth = JSON.parse(await readFile(join(dir, 'truth.json'), 'utf8')) as {files: Array<{file: string}>};
  t.deepEqual(truth.files.map((f) => f.file), names.sort());
});
