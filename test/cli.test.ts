import {mkdir, readFile, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {simulate} from '../lib/simulate/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {edw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';

test('init creates the embedded database and pushes the design documents; a second init changes nothing', async (t) => {
  const ws = await workspace(t);
  const first = await edw('--config', ws.configPath, 'init');
  t.is(first.code, 0, first.err.join('\n'));
  t.regex(first.out.join('\n'), /created database .*\n_design\/edw: created\n_design\/edw-provenance: created\n_design\/edw-query: created/);
  const second = await edw('--config', ws.configPath, 'init');
  t.deepEqual(second.out.slice(1), ['_design/edw: unchanged', '_design/edw-provenance: unchanged', '_design/edw-query: unchanged']);
  const dry = await edw('--config', ws.configPath, 'push-design', '--dry-run');
  t.deepEqual(dry.out, ['_design/edw: unchanged', '_design/edw-provenance: unchanged', '_design/edw-query: unchanged']);
});

test('a field added to [query] indexes is indexed by push-design, and --dry-run says so first', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  await writeFile(ws.configPath, `${await readFile(ws.configPath, 'utf8')}\n[query]\nindexes = facility, conditions.temperature\n`);
  const dry = await edw('--config', ws.configPath, 'push-design', '--dry-run');
  t.deepEqual(dry.out, ['_design/edw: unchanged', '_design/edw-provenance: unchanged', '_design/edw-query: would be updated (+indexes.facility, +indexes.conditions.temperature)']);
  const push = await edw('--config', ws.configPath, 'push-design');
  t.deepEqual(push.out, ['_design/edw: unchanged', '_design/edw-provenance: unchanged', '_design/edw-query: updated (+indexes.facility, +indexes.conditions.temperature)']);
  const again = await edw('--config', ws.configPath, 'push-design');
  t.deepEqual(again.out, ['_design/edw: unchanged', '_design/edw-provenance: unchanged', '_design/edw-query: unchanged']);
});

test('register, status, list, show and retry work on the embedded database through the CLI', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 3, events: 2, seed: 3});
  const reg = await edw('--config', ws.configPath, 'register', join(ws.dir, 'raw'), '--conditions', sim.conditions);
  t.is(reg.code, 0, reg.err.join('\n'));
  t.is(reg.out.filter((l) => l.startsWith('registered')).length, 3);
  const again = await edw('--config', ws.configPath, 'register', sim.files[0]!);
  t.is(again.code, 0);
  t.regex(again.out[0]!, /already registered ma22a000_000 \(same md5\)/);
  const status = await edw('--config', ws.configPath, 'status', '--json');
  t.like(JSON.parse(status.out[0]!), {
    total: 3, stages: {new: 3, move_to_sps: 0, signal_processing: 0, ingest_detections: 0},
    failed: {move_to_sps: 0, signal_processing: 0, ingest_detections: 0}, in_progress: {move_to_sps: 0, signal_processing: 0, ingest_detections: 0}, bad: 0,
  });
  const list = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--limit', '2', '--json');
  const page = JSON.parse(list.out[0]!) as DataFileDoc[];
  t.deepEqual(page.map((d) => d._id), ['ma22a000_000', 'ma22a000_001']);
  t.deepEqual(page[0]!.conditions, JSON.parse(await readFile(sim.conditions, 'utf8')));
  const next = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--after', 'ma22a000_001', '--json');
  t.deepEqual((JSON.parse(next.out[0]!) as DataFileDoc[]).map((d) => d._id), ['ma22a000_002']);
  const show = await edw('--config', ws.configPath, 'show', 'ma22a000_000');
  t.regex(show.out[0]!, /ma22a000_000 {2}run ma22a000 {2}status good {2}stage new/);
  const retry = await edw('--config', ws.configPath, 'retry', 'ma22a000_000');
  t.deepEqual(retry.out, ['ma22a000_000 has not failed, left as it is']);
  t.is(retry.code, 0);
});

test('listen --once drains the chain and exits 0; a failing command step exits 1 with its stderr recorded', async (t) => {
  const ws = await workspace(t, {ini: `
[step.fail]
after = new
command = '${process.execPath} -e "console.error('calibration table missing'); process.exit(3)" {input}'
version = 1
attempts = 2
`});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});
  await edw('--config', ws.configPath, 'register', ...sim.files);
  const run = await edw('--config', ws.configPath, 'listen', '--once');
  t.is(run.code, 1);
  t.true(run.err.some((l) => /^failed: ma22a000_000 at fail: command .* exited with 3: calibration table missing$/.test(l)), run.err.join('\n'));
  const doc = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  t.is(doc.process.length, 1, 'a non-zero exit is not retried');
  t.like(doc.process[0], {name: 'fail', status: 'failed', version: '1'});
  t.regex(doc.process[0]!.error!.detail as string, /calibration table missing/);
  const status = JSON.parse((await edw('--config', ws.configPath, 'status', '--json')).out[0]!) as {failed: Record<string, number>};
  t.deepEqual(status.failed, {fail: 1});
  const retry = await edw('--config', ws.configPath, 'retry', '--step', 'fail');
  t.deepEqual(retry.out, ['retry ma22a000_000']);
  const listFailed = await edw('--config', ws.configPath, 'list', '--stage', 'new', '--failed', '--json');
  t.deepEqual(JSON.parse(listFailed.out[0]!), []);
});

test('a command step gets its placeholders and environment, and its last JSON line is the result', async (t) => {
  const script = `const fs=require('fs');const [input,out,id]=process.argv.slice(1);fs.writeFileSync(out+'/'+id+'.txt',String(fs.statSync(input).size));console.log('working');console.log(JSON.stringify({id, env: process.env.EDW_DOC_ID, input: process.env.EDW_INPUT===input}))`;
  const ws = await workspace(t, {ini: `
[step.measure]
after = new
command = '${process.execPath} -e "${script.replace(/"/g, '\\"')}" {input} {output_dir} {id}'
version = 2
output_dir = measured
`});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});
  await edw('--config', ws.configPath, 'register', ...sim.files);
  const run = await edw('--config', ws.configPath, 'listen', '--once');
  t.is(run.code, 0, run.err.join('\n'));
  const doc = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  t.like(doc.process[0], {name: 'measure', status: 'done', version: '2', result: {id: 'ma22a000_000', env: 'ma22a000_000', input: true}});
  t.truthy(await readFile(join(ws.dir, 'measured', 'ma22a000_000.txt'), 'utf8'));
});

test('bad input gives one clear line and the right exit code, and changes nothing', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  await mkdir(join(ws.dir, 'raw'), {recursive: true});
  await writeFile(join(ws.dir, 'bad.json'), '{"temperature": ');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});

  const missing = await edw('--config', ws.configPath, 'register', join(ws.dir, 'nope.edwr'));
  t.is(missing.code, 1);
  t.true(missing.err.some((l) => /^edw: .*nope\.edwr does not exist$/.test(l)));

  const conditions = await edw('--config', ws.configPath, 'register', sim.files[0]!, '--conditions', join(ws.dir, 'bad.json'));
  t.is(conditions.code, 2);
  t.regex(conditions.err[0]!, /^edw: --conditions .*bad\.json: not valid JSON/);

  const stage = await edw('--config', ws.configPath, 'list', '--stage', 'nowhere');
  t.is(stage.code, 2);
  t.regex(stage.err[0]!, /^edw: unknown stage nowhere \(stages: new, move_to_sps/);

  const option = await edw('--config', ws.configPath, 'status', '--frobnicate');
  t.is(option.code, 2);

  const step = await edw('--config', ws.configPath, 'listen', 'nostep');
  t.is(step.code, 2);
  t.regex(step.err[0]!, /unknown step nostep/);

  const doc = await edw('--config', ws.configPath, 'show', 'nothing-here');
  t.is(doc.code, 1);
  t.is(doc.err[0], 'edw: no document nothing-here');

  const status = JSON.parse((await edw('--config', ws.configPath, 'status', '--json')).out[0]!) as {total: number};
  t.is(status.total, 0, 'nothing was registered by the failed calls');
});

test('an md5 change under a registered id is refused unless --replace, which keeps the old history', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});
  await edw('--config', ws.configPath, 'register', sim.files[0]!);
  await edw('--config', ws.configPath, 'listen', 'move_to_sps', '--once');
  const before = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  await writeFile(sim.files[0]!, Buffer.concat([await readFile(sim.files[0]!), Buffer.from([1])]));
  const refused = await edw('--config', ws.configPath, 'register', sim.files[0]!);
  t.is(refused.code, 1);
  t.true(refused.err.some((l) => l.includes(`registered with md5 ${before.md5sum}`) && l.includes('--replace')));
  const unchanged = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  t.is(unchanged._rev, before._rev);
  const replaced = await edw('--config', ws.configPath, 'register', sim.files[0]!, '--replace');
  t.is(replaced.code, 0);
  const after = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  t.not(after.md5sum, before.md5sum);
  t.deepEqual(after.process, []);
  t.is(after.previous?.[0]?.md5sum, before.md5sum);
  t.deepEqual(after.previous?.[0]?.process, before.process);
});

test('an unreachable database server is one line naming it, exit 1, and no password in it', async (t) => {
  const result = await edw('status');
  t.is(typeof result.code, 'number');
  const env = {...process.env};
  process.env.EDW_DB_URL = 'http://edw:hunter2@127.0.0.1:9/edw';
  t.teardown(() => {
    process.env = env;
  });
  const down = await edw('status');
  t.is(down.code, 1);
  t.is(down.err.length, 1);
  t.regex(down.err[0]!, /cannot reach the database .*127\.0\.0\.1:9/);
  t.false(down.err[0]!.includes('hunter2'));
});

test('detections are queryable by time, and ingesting the same results again adds nothing twice', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 2, events: 20, seed: 11});
  await edw('--config', ws.configPath, 'register', ...sim.files);
  t.is((await edw('--config', ws.configPath, 'listen', '--once')).code, 0);
  const all = await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '9999999999', '--json');
  const detections = JSON.parse(all.out.join('\n')) as Array<{_id: string; time: number; amplitude: number; source: string; type: string}>;
  const expected = (JSON.parse(await readFile(sim.truth, 'utf8')) as {files: Array<{pulses: Array<{amplitude: number}>}>})
    .files.flatMap((f) => f.pulses).filter((p) => p.amplitude >= 60).length;
  // Threshold 50 ADC: every pulse well above it is found (amplitudes are recovered within a few ADC).
  t.true(detections.length >= expected, `${detections.length} detections, ${expected} pulses of 60 ADC or more`);
  t.true(detections.every((d) => d.type === 'detection' && d.amplitude >= 50));
  t.deepEqual(detections.map((d) => d.time), [...detections.map((d) => d.time)].sort((a, b) => a - b));
  const first = detections[0]!;
  const window = await edw('--config', ws.configPath, 'detections', '--from', new Date(first.time * 1000).toISOString(), '--to', String(first.time), '--json');
  t.deepEqual((JSON.parse(window.out.join('\n')) as Array<{_id: string}>).map((d) => d._id), [first._id]);
  const {ingestDetections} = await import('../listeners/ingest-detections.js');
  const {openStore} = await import('../lib/store/index.js');
  const {silentLogger} = await import('../lib/log/index.js');
  const store = await openStore({url: ws.config.database.url});
  try {
    const doc = (await store.get(first.source)) as DataFileDoc;
    const again = await ingestDetections.run(doc, {
      step: 'ingest_detections', version: '1', settings: {threshold: '50'}, input: doc.process[1]!.result!.outputs![0]!.path, attempt: 2,
      log: silentLogger(), signal: new AbortController().signal, store,
    });
    t.is(again.created, 0);
    t.is(again.updated, 0);
    t.is(again.removed, 0);
    t.is(again.existing, detections.filter((d) => d.source === first.source).length);
  } finally {
    await store.close();
  }
  const after = JSON.parse((await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '9999999999', '--json')).out.join('\n')) as unknown[];
  t.is(after.length, detections.length);
  const backwards = await edw('--config', ws.configPath, 'detections', '--from', '10', '--to', '5');
  t.is(backwards.code, 2);
});

test('simulate writes the files, conditions and truth; demo runs the whole chain on a fresh embedded database', async (t) => {
  const ws = await workspace(t);
  const sim = await edw('simulate', '--out', join(ws.dir, 'sim'), '--files', '2', '--events', '3', '--seed', '5', '--noise', '4');
  t.is(sim.code, 0, sim.err.join('\n'));
  const truth = JSON.parse(await readFile(join(ws.dir, 'sim', 'truth.json'), 'utf8')) as {noise: number; seed: number; files: unknown[]};
  t.like(truth, {noise: 4, seed: 5});
  t.is(truth.files.length, 2);
  t.is((await edw('simulate', '--out', join(ws.dir, 'x'), '--files', 'two')).code, 2);
  const demo = await edw('--config', ws.configPath, 'demo', '--dir', join(ws.dir, 'demo'), '--files', '4');
  t.is(demo.code, 0, demo.err.join('\n'));
  t.true(demo.err.some((l) => /^12 steps completed, 0 failed$/.test(l)), demo.err.join('\n'));
  t.regex(demo.out.join('\n'), /ingest_detections\s+4/);
});

test('after --replace, the new file\'s detections replace the old file\'s', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const one = await simulate({outDir: join(ws.dir, 'one'), files: 1, events: 20, seed: 1});
  const two = await simulate({outDir: join(ws.dir, 'two'), files: 1, events: 20, seed: 2});
  await edw('--config', ws.configPath, 'register', one.files[0]!);
  t.is((await edw('--config', ws.configPath, 'listen', '--once')).code, 0);
  const query = async () => JSON.parse((await edw('--config', ws.configPath, 'detections', '--from', '0', '--to', '9999999999', '--json')).out.join('\n')) as Array<{_id: string; amplitude: number; source_md5: string}>;
  const before = await query();
  // The same file name, other content: registered again with --replace and processed again.
  await writeFile(one.files[0]!, await readFile(two.files[0]!));
  t.is((await edw('--config', ws.configPath, 'register', one.files[0]!, '--replace')).code, 0);
  t.is((await edw('--config', ws.configPath, 'listen', '--once')).code, 0);
  const after = await query();
  const doc = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as DataFileDoc;
  t.true(after.every((d) => d.source_md5 === doc.md5sum), 'every detection comes from the new file');
  t.notDeepEqual(after.map((d) => d.amplitude), before.map((d) => d.amplitude));
});
