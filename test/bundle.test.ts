import {createHash, randomBytes} from 'node:crypto';
import {existsSync, watch, type FSWatcher} from 'node:fs';
import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {list as listTar} from 'tar';
import {ChecksumError, makeBundle} from '../lib/bundle/index.js';
import {queryFromArgs, readQueryDoc, runQuery} from '../lib/query/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {workspace, type Workspace} from './helpers/workspace.js';

const md5 = (data: Buffer): string => createHash('md5').update(data).digest('hex');

/** `n` data files on disk, their documents (move_to_sps done: a copy in sps/, recorded with its md5), and a query of them all. */
async function dataset(t: ExecutionContext, n: number, bytes = 2000): Promise<{ws: Workspace; store: Store; qid: string; files: Map<string, Buffer>}> {
  const ws = await workspace(t);
  const files = new Map<string, Buffer>();
  const docs: Doc[] = [];
  await mkdir(join(ws.dir, 'raw'), {recursive: true});
  await mkdir(join(ws.dir, 'sps', 'b1'), {recursive: true});
  for (let i = 0; i < n; i++) {
    const id = `b1_${String(i).padStart(3, '0')}`;
    const data = randomBytes(bytes + i * 37);
    const path = join(ws.dir, 'raw', `${id}.edwr`);
    const copy = join(ws.dir, 'sps', 'b1', `${id}.edwr`);
    await writeFile(path, data);
    await writeFile(copy, data);
    files.set(id, data);
    docs.push({
      _id: id, run: 'b1', status: 'good', md5sum: md5(data), bytes: data.length, original_file: path, datecreated: 1_400_000_000 + i, conditions: {},
      process: [{name: 'move_to_sps', status: 'done', version: '1', started: 'x', finished: '2026-01-01T00:00:00.000Z', host: 'here', attempt: 1,
        result: {outputs: [{path: copy, bytes: data.length, md5: md5(data)}]}}],
    });
  }
  const store = await ws.open();
  await store.bulkWrite(docs);
  const {id} = await runQuery(store, queryFromArgs({run: ['b1']}));
  return {ws, store, qid: id, files};
}

test('a bundle of 50 files: each verified and listed in manifest.json, in one archive with the manifest, recorded in the query document', async (t) => {
  const {ws, store, qid, files} = await dataset(t, 50);
  await store.close();
  const out = join(ws.dir, 'delivery');
  const run = await edw('--config', ws.configPath, 'bundle', qid, '--what', 'raw', '--out', out);
  t.is(run.code, 0, run.err.join('\n'));
  t.regex(run.out[0]!, /: 50 files \(50 copied, 0 kept from an earlier run\)/);
  const manifestText = await readFile(join(out, 'manifest.json'), 'utf8');
  const manifest = JSON.parse(manifestText) as {query: string; files: Array<{path: string; bytes: number; md5: string; id: string; step: string | null; version: string | null}>};
  t.is(manifest.query, qid);
  t.is(manifest.files.length, 50);
  for (const f of manifest.files) {
    const data = await readFile(join(out, f.path));
    t.deepEqual(data, files.get(f.id));
    t.is(f.md5, md5(data));
    t.is(f.bytes, data.length);
    t.is(f.path, `b1/${f.id}.edwr`);
  }
  const entries: string[] = [];
  await listTar({file: `${out}.tar`, onReadEntry: (e) => entries.push(e.path)});
  t.deepEqual(entries.sort(), ['manifest.json', ...manifest.files.map((f) => f.path)].sort());
  t.false(existsSync(join(out, '.edw-bundle.json')));
  const again = await ws.open();
  const doc = await readQueryDoc(again, qid);
  t.like(doc!.bundles[0], {dir: out, archive: `${out}.tar`, what: 'raw', files: 50, manifest_md5: md5(Buffer.from(manifestText))});
});

test('a step\'s outputs are bundled with the step and version that made them, in a .tar.gz', async (t) => {
  const {ws, store, qid} = await dataset(t, 3);
  const out = join(ws.dir, 'copies');
  const report = await makeBundle(store, qid, {what: 'move_to_sps', out, gzip: true});
  t.is(report.archive, `${out}.tar.gz`);
  const manifest = JSON.parse(await readFile(join(out, 'manifest.json'), 'utf8')) as {files: Array<Record<string, unknown>>};
  t.like(manifest.files[0], {id: 'b1_000', step: 'move_to_sps', version: '1', entry: {index: 0, finished: '2026-01-01T00:00:00.000Z', host: 'here'}});
  const entries: string[] = [];
  await listTar({file: report.archive, onReadEntry: (e) => entries.push(e.path)});
  t.is(entries.length, 4);
});

test('a bundle killed half-way and run again copies only the rest, and none is archived before it is complete', async (t) => {
  const {ws, store, qid} = await dataset(t, 50);
  const out = join(ws.dir, 'delivery');
  const kill = new AbortController();
  await t.throwsAsync(makeBundle(store, qid, {what: 'raw', out, signal: kill.signal, onProgress: ({files}) => {
    if (files === 25) kill.abort(new Error('killed'));
  }}));
  t.false(existsSync(`${out}.tar`));
  t.false(existsSync(join(out, 'manifest.json')));
  const report = await makeBundle(store, qid, {what: 'raw', out});
  t.like(report, {files: 50, copied: 25, kept: 25});
  t.true(existsSync(`${out}.tar`));
});

test('a file whose bytes no longer match its md5 stops the bundle with both checksums, and no archive claims it complete', async (t) => {
  const {ws, store, qid, files} = await dataset(t, 10);
  const out = join(ws.dir, 'delivery');
  await makeBundle(store, qid, {what: 'raw', out});
  t.true(existsSync(`${out}.tar`));
  const changed = Buffer.from(files.get('b1_006')!);
  changed[100] = (changed[100]! + 1) % 256;
  await writeFile(join(ws.dir, 'raw', 'b1_006.edwr'), changed);
  // In a new folder (the first bundle's files are kept as verified), then the CLI's line.
  const error = await t.throwsAsync(makeBundle(store, qid, {what: 'raw', out: join(ws.dir, 'second')}), {instanceOf: ChecksumError});
  t.true(error!.message.includes(md5(changed)) && error!.message.includes(md5(files.get('b1_006')!)), error!.message);
  t.false(existsSync(join(ws.dir, 'second.tar')));
  t.false(existsSync(join(ws.dir, 'second', 'manifest.json')));
  t.true(existsSync(join(ws.dir, 'second', 'b1', 'b1_005.edwr')));
  t.false(existsSync(join(ws.dir, 'second', 'b1', 'b1_006.edwr')));
  await store.close();
  const run = await edw('--config', ws.configPath, 'bundle', qid, '--what', 'raw', '--out', join(ws.dir, 'third'), '--archive', `${out}.tar`);
  t.is(run.code, 1);
  t.regex(run.err.join('\n'), new RegExp(`^edw: .*b1_006.edwr \\(document b1_006\\) has md5 ${md5(changed)} .*its entry records ${md5(files.get('b1_006')!)}`, 'm'));
  t.false(existsSync(`${out}.tar`), 'the archive of an earlier complete bundle at that path is removed');
  const bad = await edw('--config', ws.configPath, 'bundle', qid, '--what', 'nothing', '--out', join(ws.dir, 'x'));
  t.is(bad.code, 2);
  t.regex(bad.err[0]!, /--what nothing: expected raw or a step/);
});

test('edw bundle killed with SIGKILL part-way, run again, copies only what the killed run had not verified', async (t) => {
  const {ws, store, qid} = await dataset(t, 50, 400_000);
  await store.close();
  const out = join(ws.dir, 'delivery');
  const child = spawnEdw(['--config', ws.configPath, 'bundle', qid, '--what', 'raw', '--out', out]);
  // The bundle's progress file lists each file once verified: kill once it lists 20.
  const verified = async (): Promise<number> => Object.keys((JSON.parse(await readFile(join(out, '.edw-bundle.json'), 'utf8').catch(() => '{"verified":{}}')) as {verified: object}).verified).length;
  const reached = await new Promise<boolean>((resolve) => {
    const check = (): void => void verified().then((n) => n >= 20 && finish(true), () => undefined);
    const finish = (value: boolean): void => {
      watcher?.close();
      resolve(value);
    };
    let watcher: FSWatcher | undefined;
    void mkdir(out, {recursive: true}).then(() => {
      watcher = watch(out, check);
      check();
    });
    void child.exit.then(() => finish(false));
  });
  t.true(reached, child.stderr.join('\n'));
  child.child.kill('SIGKILL');
  t.is((await child.exit).signal, 'SIGKILL');
  const before = await verified();
  t.true(before >= 20 && before < 50, `${before} verified when killed`);
  t.false(existsSync(`${out}.tar`));
  const again = await edw('--config', ws.configPath, 'bundle', qid, '--what', 'raw', '--out', out);
  t.is(again.code, 0, again.err.join('\n'));
  t.regex(again.out[0]!, new RegExp(`: 50 files \\(${50 - before} copied, ${before} kept from an earlier run\\)`));
  t.true(existsSync(`${out}.tar`));
});
