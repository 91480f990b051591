import {watch} from 'node:fs';
import {readFile, stat, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {checkpointPath, runExport} from '../lib/export/index.js';
import {queryFromArgs, runQuery} from '../lib/query/index.js';
import type {Doc, Store} from '../lib/store/index.js';
import {forEachBackend, tempFolder} from './helpers/backends.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {analystDocs} from './helpers/query-data.js';
import {workspace} from './helpers/workspace.js';

async function writeAll(store: Store, docs: Doc[]): Promise<void> {
  for (let i = 0; i < docs.length; i += 1000) {
    const outcomes = await store.bulkWrite(docs.slice(i, i + 1000));
    if (!outcomes.every((o) => o.ok)) throw new Error('setup write failed');
  }
}

const idsOf = (text: string): string[] => text.split('\n').filter(Boolean).map((l) => (JSON.parse(l) as Doc)._id);

/** Resolve once `file` holds at least `bytes`, or the process has exited (then false). */
function grownTo(file: string, bytes: number, exited: Promise<unknown>): Promise<boolean> {
  return new Promise((resolve) => {
    let done = false;
    const finish = (value: boolean): void => {
      if (done) return;
      done = true;
      watcher.close();
      resolve(value);
    };
    const check = (): void => void stat(file).then((s) => s.size >= bytes && finish(true), () => undefined);
    const watcher = watch(join(file, '..'), check);
    check();
    void exited.then(() => finish(false));
  });
}

test('an export killed at six moments and resumed each time holds every record once, in feed order; a run after new documents appends only them', async (t) => {
  const ws = await workspace(t);
  const docs = analystDocs(12_000);
  const store = await ws.open();
  await writeAll(store, docs);
  const reference = join(ws.dir, 'reference.ndjson');
  await runExport(store, {kind: 'documents', format: 'ndjson', out: reference});
  await store.close();
  const whole = await readFile(reference, 'utf8');
  t.is(idsOf(whole).length, 12_000);
  const out = join(ws.dir, 'out.ndjson');
  let kills = 0;
  for (let k = 1; k <= 6; k++) {
    const child = spawnEdw(['--config', ws.configPath, 'export', 'documents', '--format', 'ndjson', '--out', out]);
    if (await grownTo(out, Math.floor((whole.length * k) / 8), child.exit)) {
      child.child.kill('SIGKILL');
      const {signal} = await child.exit;
      if (signal === 'SIGKILL') kills++;
    } else {
      t.fail(`the export finished before kill ${k}: ${child.stderr.join('\n')}`);
    }
  }
  t.true(kills >= 6, `${kills} runs killed`);
  const last = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'ndjson', '--out', out);
  t.is(last.code, 0, last.err.join('\n'));
  const text = await readFile(out, 'utf8');
  t.is(text, whole, 'every record once, in feed order, as one uninterrupted export wrote them');
  const more = await ws.open();
  await writeAll(more, analystDocs(3, 'late'));
  await more.close();
  const again = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'ndjson', '--out', out);
  t.regex(again.out[0]!, /: 3 records appended, 12003 in all/);
  const after = await readFile(out, 'utf8');
  t.true(after.startsWith(whole));
  t.deepEqual(idsOf(after.slice(whole.length)), ['late00000', 'late00001', 'late00002']);
});

test('csv: a header, conditions flattened into columns, and a run after a change appends the changed document without a header', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await writeAll(store, analystDocs(4));
  await store.close();
  const out = join(ws.dir, 'docs.csv');
  const first = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'csv', '--out', out);
  t.is(first.code, 0, first.err.join('\n'));
  const lines = (await readFile(out, 'utf8')).trimEnd().split('\n');
  const header = lines[0]!.split(',');
  t.deepEqual(header.slice(0, 2), ['_id', '_rev']);
  for (const column of ['conditions.temperature', 'conditions.volts.detector_a', 'conditions.channel', 'run', 'stage', 'datecreated']) t.true(header.includes(column), column);
  t.false(header.includes('process'));
  t.is(lines.length, 5);
  const row = lines[2]!.match(/("([^"]|"")*"|[^,]*)(,|$)/g)!.map((f) => f.replace(/,$/, ''));
  t.is(row[header.indexOf('_id')], 'f00001');
  t.is(row[header.indexOf('conditions.temperature')], '0.037');
  t.is(row[header.indexOf('conditions.volts.detector_a')], '"[2,-8,2,-2]"');
  t.is(row[header.indexOf('stage')], 'move_to_sps');
  const again = await ws.open();
  const doc = (await again.get('f00002'))!;
  await again.put({...doc, facility: 'moved'});
  await again.close();
  const second = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'csv', '--out', out);
  t.regex(second.out[0]!, /1 record appended, 5 in all/);
  const now = (await readFile(out, 'utf8')).trimEnd().split('\n');
  t.is(now.length, 6);
  t.true(now[5]!.startsWith('f00002,'));
  t.true(now[5]!.includes(',moved,'));
});

test('an export refuses an output it did not write, and one written for another export, leaving both as they were', async (t) => {
  const ws = await workspace(t);
  await (await ws.open()).close();
  const out = join(ws.dir, 'mine.ndjson');
  await writeFile(out, 'my notes\n');
  const refused = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'ndjson', '--out', out);
  t.is(refused.code, 2);
  t.regex(refused.err[0]!, /^edw: .*mine.ndjson exists and has no checkpoint/);
  t.is(await readFile(out, 'utf8'), 'my notes\n');
  const other = join(ws.dir, 'other.ndjson');
  t.is((await edw('--config', ws.configPath, 'export', 'documents', '--format', 'ndjson', '--out', other)).code, 0);
  const checkpoint = await readFile(checkpointPath(other), 'utf8');
  const csv = await edw('--config', ws.configPath, 'export', 'documents', '--format', 'csv', '--out', other);
  t.is(csv.code, 2);
  t.regex(csv.err[0]!, /holds the export .*"format":"ndjson".*not .*"format":"csv"/);
  t.is(await readFile(checkpointPath(other), 'utf8'), checkpoint);
  t.is((await edw('--config', ws.configPath, 'export', 'files', '--format', 'csv', '--out', other)).code, 2);
});

forEachBackend((backend) => {
  test(`${backend.name}: an export of a query's documents and of their detections, stopped part-way and run again, holds each record once`, async (t) => {
    const store = await backend.open(t);
    const docs = analystDocs(300);
    const detections: Doc[] = docs.slice(0, 60).map((d, i) => ({_id: `detection:${d._id}:0`, type: 'detection', source: d._id, time: 1_400_000_000 + i, amplitude: i, channel: 'A'}));
    await writeAll(store, [...docs, ...detections]);
    const {id, doc} = await runQuery(store, queryFromArgs({filters: ['facility=tunka']}));
    const dir = await tempFolder(t);
    const out = join(dir, 'tunka.ndjson');
    const stop = new AbortController();
    await t.throwsAsync(runExport(store, {kind: 'documents', format: 'ndjson', out, query: id, pageSize: 50, signal: stop.signal, onProgress: (n) => n > 30 && stop.abort(new Error('stopped'))}));
    const report = await runExport(store, {kind: 'documents', format: 'ndjson', out, query: id, pageSize: 50});
    t.true(report.resumed);
    t.deepEqual(idsOf(await readFile(out, 'utf8')).sort(), doc.ids);
    const found = join(dir, 'detections.ndjson');
    await runExport(store, {kind: 'detections', format: 'ndjson', out: found, query: id});
    t.deepEqual(idsOf(await readFile(found, 'utf8')).sort(), detections.filter((d) => doc.ids.includes(String(d.source))).map((d) => d._id).sort());
  });
});
