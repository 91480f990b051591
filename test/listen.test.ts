import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {statusCounts} from '../lib/inspect/index.js';
import type {StepEvent} from '../lib/runtime/index.js';
import {holdEmbedded} from './helpers/hold.js';
import {simulate} from '../lib/simulate/index.js';
import {allDataDocs, completions, runner, simulateAndRegister} from './helpers/chain.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {main} from '../lib/cli/index.js';
import {capturedIo, screen} from './helpers/terminal.js';
import {workspace, type Workspace} from './helpers/workspace.js';
import {backends} from './helpers/backends.js';

test('register, status, list, show and retry reach the embedded database while a listener holds it', async (t) => {
  const ws = await workspace(t);
  t.is((await edw('--config', ws.configPath, 'init')).code, 0);
  const listener = spawnEdw(['--config', ws.configPath, 'listen', '--verbose'], {EDW_LOG_LEVEL: 'info'});
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
    const first = spawnEdw(['--config', ws.configPath, 'listen', '--verbose'], {EDW_LOG_LEVEL: 'info'});
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
    // A failed assertion below must not leave the slow step (and this file's worker) waiting forever.
    t.teardown(async () => {
      await writeFile(release, '');
      await run.stop();
    });
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
  const run = spawnEdw(['--config', ws.configPath, 'listen', '--once', '--verbose'], {EDW_LOG_LEVEL: 'info'});
  t.is((await run.exit).code, 0);
  const lines = run.stderr.filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>);
  const done = lines.filter((l) => l.message === 'step done');
  t.is(done.length, 6);
  for (const line of done) {
    t.regex(String(line.docId), /^ma22a000_00[01]$/);
    t.true(['move_to_sps', 'signal_processing', 'ingest_detections'].includes(String(line.step)));
    t.is(line.level, 'verbose');
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
  const again = spawnEdw(['--config', ws.configPath, 'listen', '--once', '--verbose'], {EDW_LOG_LEVEL: 'info'});
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
  const listener = spawnEdw(['--config', ws.configPath, 'listen', '--verbose'], {EDW_LOG_LEVEL: 'info'});
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

/** A workspace at the default log level whose database holds `files` registered data files, and their ids. */
async function registered(t: ExecutionContext, files: number, ini = ''): Promise<{ws: Workspace; ids: string[]}> {
  const ws = await workspace(t, {ini: `[log]\nlevel = info\n${ini}`});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files, events: 2});
  const reg = await edw('--config', ws.configPath, 'register', ...sim.files);
  t.is(reg.code, 0, reg.err.join('\n'));
  return {ws, ids: reg.out.map((l) => l.replace(/^registered /, ''))};
}

/** A log line in the text format, from its first character. */
const LOG_LINE = /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z (error|warn |info |verbose|debug) /;

/** The per-step objects of a `caught up` or `stopped` line in the text format. */
function stepTotals(line: string): {done: Record<string, number>; failed: Record<string, number>} {
  const field = (name: string): Record<string, number> => JSON.parse(new RegExp(` ${name}=(\\{[^}]*\\})`).exec(line)?.[1] ?? 'null') as Record<string, number>;
  return {done: field('done'), failed: field('failed')};
}

const CHAIN = ['move_to_sps', 'signal_processing', 'ingest_detections'];
const each = (n: number): Record<string, number> => Object.fromEntries(CHAIN.map((s) => [s, n]));

test('on a terminal edw listen keeps its status line below the log lines, and no log line is written onto it', async (t) => {
  const {ws} = await registered(t, 3);
  const terminal = capturedIo(true);
  t.is(await main(['--config', ws.configPath, 'listen', '--once', '--verbose'], terminal.io), 0, terminal.stderr());
  const raw = terminal.stderr();
  t.regex(raw, /move_to_sps \d+ done/, 'a status line with totals was drawn');
  const {lines, row} = screen(raw);
  t.is(row, '', 'the status line is gone once the run has stopped');
  t.true(lines.some((l) => /step done step=ingest_detections/.test(l)));
  // A log line written onto the status line would start with the status text.
  for (const line of lines) t.regex(line, LOG_LINE);
});

test('at the default level edw listen --once prints no line per document, says it caught up, and its last line counts what each step did', async (t) => {
  const files = 4;
  const {ws, ids} = await registered(t, files);
  const pipe = capturedIo(false);
  t.is(await main(['--config', ws.configPath, 'listen', '--once'], pipe.io), 0, pipe.stderr());
  const raw = pipe.stderr();
  t.false(/[\r\x1b]/.test(raw), 'off a terminal: whole lines, no carriage return or escape code');
  const lines = raw.split('\n');
  t.is(lines.pop(), '');
  for (const id of ids) t.false(lines.some((l) => l.includes(id)), `a line names ${id}`);
  const caughtUp = lines.findIndex((l) => / caught up /.test(l));
  t.true(caughtUp >= 0, raw);
  t.regex(lines.at(-1)!, / stopped /);
  t.true(caughtUp < lines.length - 1);
  t.deepEqual(stepTotals(lines.at(-1)!), {done: each(files), failed: each(0)});
});

test('[log] level = verbose (or --verbose) logs a line per document and step', async (t) => {
  const {ws, ids} = await registered(t, 2, '[log]\nlevel = verbose\n');
  const pipe = capturedIo(false);
  t.is(await main(['--config', ws.configPath, 'listen', '--once'], pipe.io), 0, pipe.stderr());
  for (const id of ids) {
    for (const step of CHAIN) t.regex(pipe.stderr(), new RegExp(`verbose step done step=${step} docId=${id} `));
  }
});

test('a failure is one line at the default level, and the last line counts it at its step', async (t) => {
  const {ws, ids} = await registered(t, 2, `
[step.fail]
after = new
command = '${process.execPath} -e "process.exit(3)"'
version = 1
attempts = 1
`);
  const pipe = capturedIo(false);
  t.is(await main(['--config', ws.configPath, 'listen', '--once'], pipe.io), 1, pipe.stderr());
  const lines = pipe.stderr().split('\n').filter(Boolean);
  for (const id of ids) {
    t.is(lines.filter((l) => LOG_LINE.test(l) && l.includes(id)).length, 1, `one log line for ${id}: ${lines.join('\n')}`);
    t.true(lines.some((l) => l.startsWith(`failed: ${id} at fail: `)));
  }
  const stopped = lines.find((l) => / stopped /.test(l))!;
  t.deepEqual(stepTotals(stopped), {done: {fail: 0}, failed: {fail: 2}});
});

test('edw listen says once that it has caught up, and when stopped what it did per step', async (t) => {
  const files = 3;
  const {ws, ids} = await registered(t, files);
  const listener = spawnEdw(['--config', ws.configPath, 'listen'], {EDW_LOG_LEVEL: 'info'});
  t.teardown(() => listener.child.kill('SIGKILL'));
  const caughtUp = await listener.waitFor(/ caught up /);
  t.deepEqual(stepTotals(caughtUp), {done: each(files), failed: each(0)});
  listener.child.kill('SIGTERM');
  t.deepEqual(await listener.exit, {code: 0, signal: null}, listener.stderr.join('\n'));
  t.regex(listener.stderr.at(-1)!, / stopped /);
  t.deepEqual(stepTotals(listener.stderr.at(-1)!), {done: each(files), failed: each(0)});
  t.false(listener.stderr.some((l) => /[\r\x1b]/.test(l)), 'a pipe gets whole lines, no carriage return or escape code');
  for (const id of ids) t.false(listener.stderr.some((l) => l.includes(id)), `a line names ${id}`);
});
