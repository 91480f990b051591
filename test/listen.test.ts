import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import type {StepEvent} from '../lib/runtime/index.js';
import {holdEmbedded} from './helpers/hold.js';
import {simulate} from '../lib/simulate/index.js';
import {allDataDocs, completions, runner, simulateAndRegister} from './helpers/chain.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {workspace} from './helpers/workspace.js';
import {backends} from './helpers/backends.js';

test('register, status, list, show and retry reach the embedded database while a listener holds it', async (t) => {
  const ws = await workspace(t);
  t.is((await edw('--config', ws.configPath, 'init')).code, 0);
  const listener = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'info'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/listening/);
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 3, events: 2});
  const reg = await edw('--config', ws.configPath, 'register', join(ws.dir, 'raw'));
  t.is(reg.code, 0, reg.err.join('\n'));
  t.is(reg.out.length, sim.files.length);
  for (const id of ['ma22a000_000', 'ma22a000_001', 'ma22a000_002']) {
    await listener.waitFor(new RegExp(`step done step=ingest_detections docId=${id}`));
  }
  const status = JSON.parse((await edw('--config', ws.configPath, 'status', '--json')).out[0]!) as {stages: Record<string, number>};
  t.is(status.stages.ingest_detections, 3);
  t.is((await edw('--config', ws.configPath, 'show', 'ma22a000_001')).code, 0);
  t.is((await edw('--config', ws.configPath, 'list', '--stage', 'ingest_detections', '--json')).code, 0);
  t.is((await edw('--config', ws.configPath, 'retry', 'ma22a000_001')).code, 0);
  listener.child.kill('SIGTERM');
  t.deepEqual(await listener.exit, {code: 0, signal: null});
  // Once the listener is gone the database opens directly again.
  t.is((await edw('--config', ws.configPath, 'status')).code, 0);
});

test('a command says in one line that the embedded database is held by a process that does not share it', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const holder = await holdEmbedded(ws.config.database.url);
  t.teardown(() => holder.close());
  const result = spawnEdw(['--config', ws.configPath, 'status']);
  const {code} = await result.exit;
  t.is(code, 1);
  t.is(result.stderr.length, 1);
  t.regex(result.stderr[0]!, /^edw: the embedded database .* is held by another process that does not share it/);
});

for (const backend of backends) {
  test(`${backend.name}: a listener killed with SIGKILL mid-chain and restarted completes every step exactly once`, async (t) => {
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t), lease: '1s'});
    const store = await ws.open();
    const ids = await simulateAndRegister(store, join(ws.dir, 'raw'), 30, 2);
    await store.close();
    const first = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'info'});
    t.teardown(() => first.child.kill('SIGKILL'));
    // Kill it while work is in flight: after some documents are through, while others are claimed.
    await first.waitFor(/step done step=signal_processing/);
    await first.waitFor(/step started step=move_to_sps/);
    first.child.kill('SIGKILL');
    t.is((await first.exit).signal, 'SIGKILL');
    const again = spawnEdw(['--config', ws.configPath, 'listen', '--once']);
    t.is((await again.exit).code, 0, again.stderr.join('\n'));
    const check = await ws.open();
    for (const doc of await allDataDocs(check, ids)) {
      t.deepEqual(completions(doc), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1}, doc._id);
      t.is(doc.edw?.claim, undefined);
    }
  });

  test(`${backend.name}: in_progress counts a document while a slow step runs on it`, async (t) => {
    const release = join(await (await import('node:fs/promises')).mkdtemp(join((await import('node:os')).tmpdir(), 'edw-release-')), 'go');
    const wait = `const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync(process.argv[1])){clearInterval(t);console.log('{}')}},20)`;
    const ws = await workspace(t, {databaseUrl: await backend.databaseUrl(t), ini: `
[step.slow]
after = new
command = '${process.execPath} -e "${wait}" ${release}'
version = 1
`});
    const store = await ws.open();
    await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
    const run = await runner(store, ws.config);
    const started = new Promise<StepEvent>((resolve) => run.stepListeners[0]!.once('started', resolve));
    const completed = new Promise<StepEvent>((resolve) => run.stepListeners[0]!.once('completed', resolve));
    const done = run.run();
    await started;
    const during = await statusCounts(store, ['slow']);
    t.deepEqual(during.in_progress, {slow: 1});
    t.deepEqual(during.stages, {new: 1, slow: 0});
    await writeFile(release, '');
    await completed;
    t.deepEqual((await statusCounts(store, ['slow'])).in_progress, {slow: 0});
    await run.stop();
    await done;
  });
}

test('with [log] format = json every step line is one JSON object naming the document and the step', async (t) => {
  const ws = await workspace(t, {ini: '[log]\nformat = json\n'});
  await edw('--config', ws.configPath, 'init');
  await simulate({outDir: join(ws.dir, 'raw'), files: 2, events: 2});
  await edw('--config', ws.configPath, 'register', join(ws.dir, 'raw'));
  const run = spawnEdw(['--config', ws.configPath, 'listen', '--once'], {EDW_LOG_LEVEL: 'info'});
  t.is((await run.exit).code, 0);
  const lines = run.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = lines.filter((l) => l.message === 'step done');
  t.is(done.length, 6);
  for (const line of done) {
    t.regex(String(line.docId), /^ma22a000_00[01]$/);
    t.true(['move_to_sps', 'signal_processing', 'ingest_detections'].includes(String(line.step)));
    t.is(line.level, 'info');
  }
});

test('SIGTERM in the middle of a step lets it finish, records it once, releases the claim and exits 0', async (t) => {
  const release = join(await (await import('node:fs/promises')).mkdtemp(join((await import('node:os')).tmpdir(), 'edw-release-')), 'go');
  const wait = `const fs=require('fs');const t=setInterval(()=>{if(fs.existsSync(process.argv[1])){clearInterval(t);console.log('{}')}},20)`;
  const ws = await workspace(t, {ini: `
[step.slow]
after = new
command = '${process.execPath} -e "${wait}" ${release}'
version = 1
`});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});
  await edw('--config', ws.configPath, 'register', ...sim.files);
  const listener = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'debug'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/step started step=slow/);
  listener.child.kill('SIGTERM');
  await listener.waitFor(/stopping: finishing running steps/);
  await writeFile(release, '');
  t.deepEqual(await listener.exit, {code: 0, signal: null}, listener.stderr.join('\n'));
  t.true(listener.stderr.some((l) => /step done step=slow/.test(l)));
  const doc = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as {process: Array<{name: string; status: string}>; edw?: {claim?: unknown}};
  t.deepEqual(doc.process.map((e) => [e.name, e.status]), [['slow', 'done']]);
  t.is(doc.edw?.claim, undefined);
  // Started again, nothing runs twice (the saved position itself: 'a soft stop saves the feed position').
  const again = spawnEdw(['--config', ws.configPath, 'listen', '--once'], {EDW_LOG_LEVEL: 'info'});
  t.is((await again.exit).code, 0);
  t.false(again.stderr.some((l) => /step started/.test(l)));
});

test('a second SIGTERM aborts running steps, gives their documents back and exits 1', async (t) => {
  const ws = await workspace(t, {ini: `
[step.forever]
after = new
command = '${process.execPath} -e "setInterval(() => {}, 1000)"'
version = 1
timeout = 10m
`});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 1, events: 2});
  await edw('--config', ws.configPath, 'register', ...sim.files);
  const listener = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'info'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/step started step=forever/);
  listener.child.kill('SIGTERM');
  await listener.waitFor(/stopping: finishing running steps/);
  listener.child.kill('SIGTERM');
  t.is((await listener.exit).code, 1);
  const doc = JSON.parse((await edw('--config', ws.configPath, 'show', 'ma22a000_000', '--json')).out.join('\n')) as {process: unknown[]; edw?: {claim?: unknown}};
  t.deepEqual(doc.process, [], 'an interrupted step records nothing');
  t.is(doc.edw?.claim, undefined, 'the claim was given back');
});

test('each listener process keeps a heartbeat document; edw listeners shows it alive, then stopped', async (t) => {
  const ws = await workspace(t);
  await edw('--config', ws.configPath, 'init');
  const listener = spawnEdw(['--config', ws.configPath, 'listen', 'move_to_sps'], {EDW_LOG_LEVEL: 'info'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/listening/);
  // The first beat is written at start; read until it is there (each read is an event: an answer).
  let reports: Array<{state: string; pid: number; listeners: Array<{step: string}>}> = [];
  while (reports.length === 0) reports = JSON.parse((await edw('--config', ws.configPath, 'listeners', '--json')).out[0]!);
  t.like(reports[0], {state: 'alive', pid: listener.child.pid});
  t.deepEqual(reports[0]!.listeners.map((l) => l.step), ['move_to_sps']);
  listener.child.kill('SIGTERM');
  t.is((await listener.exit).code, 0);
  const after = JSON.parse((await edw('--config', ws.configPath, 'listeners', '--json')).out[0]!) as Array<{state: string}>;
  t.is(after[0]!.state, 'stopped');
  const table = await edw('--config', ws.configPath, 'listeners');
  t.regex(table.out[0]!, /^stopped .* pid \d+ .*move_to_sps/);
});

test('edw listen started while its server is unreachable waits, says so once, and stops cleanly on SIGTERM', async (t) => {
  const {findFreePort} = await import('./helpers/couch-server.js');
  const port = await findFreePort();
  const ws = await workspace(t, {databaseUrl: `http://127.0.0.1:${port}/edw`});
  const listener = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'info'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/database unreachable, retrying/);
  listener.child.kill('SIGTERM');
  t.deepEqual(await listener.exit, {code: 0, signal: null});
  t.is(listener.stderr.filter((l) => /database unreachable/.test(l)).length, 1);
  const once = spawnEdw(['--config', ws.configPath, 'listen', '--once']);
  t.is((await once.exit).code, 1);
  t.regex(once.stderr.join('\n'), /cannot reach the database/);
});
