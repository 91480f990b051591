import {chmod, mkdir, realpath, writeFile} from 'node:fs/promises';
import {existsSync} from 'node:fs';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {ConfigError} from '../lib/errors/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {simulate} from '../lib/simulate/index.js';
import {loadSteps} from '../listeners/index.js';
import {drain, simulateAndRegister} from './helpers/chain.js';
import {edw, spawnEdw} from './helpers/cli.js';
import {chainIni, workspace} from './helpers/workspace.js';

/** The ConfigError that loading the steps of a workspace with these step sections is refused with. */
async function refusal(t: ExecutionContext, ini: string, prepare?: (dir: string) => Promise<void>): Promise<ConfigError> {
  const ws = await workspace(t, {ini});
  await prepare?.(ws.dir);
  const error = await t.throwsAsync(loadSteps(ws.config.steps), {instanceOf: ConfigError}, ini);
  t.is(error?.exitCode, 2);
  return error!;
}

test('a step past its timeout is aborted, counted as a failed attempt, and retried up to its attempts', async (t) => {
  const ws = await workspace(t, {ini: `
[step.stuck]
after = new
command = '${process.execPath} -e "setInterval(() => {}, 1000)"'
version = 1
timeout = 300ms
attempts = 2
`});
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  const summary = await drain(store, ws.config);
  t.is(summary.failed.length, 1);
  t.is(summary.retried, 1);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.deepEqual(doc.process.map((e) => [e.status, e.attempt]), [['failed', 1], ['failed', 2]]);
  t.regex(doc.process[0]!.error!.message, /timed out after 300 ms/);
  t.true(doc.process[0]!.error!.retryable);
  t.like(doc.edw?.failed, {step: 'stuck', attempts: 2});
});

test('an error that may pass is retried after a backoff and the document then completes', async (t) => {
  const marker = 'attempted';
  // Exit 75 (try again later) the first time, succeed the second.
  const script = `const fs=require('fs');const m=process.env.EDW_OUTPUT_DIR+'/${marker}';if(!fs.existsSync(m)){fs.writeFileSync(m,'');process.exit(75)}console.log(JSON.stringify({ok:true}))`;
  const ws = await workspace(t, {ini: `
[step.flaky]
after = new
command = '${process.execPath} -e "${script}"'
version = 1
output_dir = out
attempts = 3
`});
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  const summary = await drain(store, ws.config);
  t.deepEqual(summary.failed, []);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.deepEqual(doc.process.map((e) => [e.status, e.attempt]), [['failed', 1], ['done', 2]]);
  t.true(doc.process[0]!.error!.retryable);
  // The second attempt started no earlier than the backoff (50 ms in the workspace config) after the first ended.
  t.true(Date.parse(doc.process[1]!.started!) - Date.parse(doc.process[0]!.finished!) >= 50);
  t.is(doc.edw?.retry, undefined);
});

test('a module step from a file is loaded and run, and its version is recorded', async (t) => {
  const ws = await workspace(t, {ini: `
[step.count]
after = new
module = count-step.mjs
`});
  await writeFile(join(ws.dir, 'count-step.mjs'), `
export default {
  version: '3.1',
  async run(doc, ctx) {
    return {id: doc._id, input: ctx.input, attempt: ctx.attempt, step: ctx.step};
  },
};
`);
  const {loadConfig} = await import('../lib/config/index.js');
  const config = loadConfig({path: ws.configPath, explicit: true, env: {}});
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  await drain(store, config);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.like(doc.process[0], {name: 'count', status: 'done', version: '3.1', result: {id, input: doc.original_file, attempt: 1, step: 'count'}});
});

test('a module that exports no step is a configuration error naming the module', async (t) => {
  const ws = await workspace(t, {ini: '[step.bad]\nafter = new\nmodule = bad.mjs\n'});
  await writeFile(join(ws.dir, 'bad.mjs'), 'export const nothing = 1;\n');
  const {loadSteps} = await import('../listeners/index.js');
  await t.throwsAsync(loadSteps(ws.config.steps), {message: /\[step\.bad\] module .*bad\.mjs exports no step/});
});

test('an unknown key in a step section (concurency = 4) is refused at listener start, naming the key, the section and the keys it knows', async (t) => {
  const kind = await refusal(t, '[step.a]\nafter = new\nkind = ingest_detections\nconcurency = 4\n');
  t.is(kind.message, 'unknown setting concurency in [step.a] (known: after, kind, version, concurrency, attempts, timeout, threshold)');
  const command = await refusal(t, `[step.fit]\nafter = new\ncommand = ${process.execPath} fit.js\nversion = 1\noutputdir = out\nwindow = 3\n`);
  t.is(command.message, 'unknown settings outputdir, window in [step.fit] (known: after, command, version, concurrency, attempts, timeout, output_dir)');
  const module = await refusal(t, '[step.count]\nafter = new\nmodule = plain.mjs\nwindow = 3\n', (dir) => writeFile(join(dir, 'plain.mjs'), `export default {version: '1', async run() { return {}; }};\n`));
  t.is(module.message, 'unknown setting window in [step.count] (known: after, module, version, concurrency, attempts, timeout)', 'a module that declares nothing takes no own settings');
});

test('a module step takes the settings it declares, and its checkSettings refuses a bad value at listener start with exit 2', async (t) => {
  const source = `export default {
  version: '1',
  settings: {window: 'samples averaged per point'},
  checkSettings(settings) {
    if (!(Number(settings.window) > 0)) throw new Error('window = ' + settings.window + ': expected a number above 0');
  },
  async run(doc, ctx) { return {window: Number(ctx.settings.window)}; },
};
`;
  const write = (dir: string): Promise<void> => writeFile(join(dir, 'avg.mjs'), source);
  const bad = await refusal(t, '[step.avg]\nafter = new\nmodule = avg.mjs\nwindow = wide\n', write);
  t.is(bad.message, '[step.avg] window = wide: expected a number above 0');
  const ws = await workspace(t, {ini: '[step.avg]\nafter = new\nmodule = avg.mjs\nwindow = 3\n'});
  await write(ws.dir);
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  await drain(store, ws.config);
  t.like(((await store.get(id!)) as DataFileDoc).process[0], {name: 'avg', status: 'done', result: {window: 3}});
});

test('the built-in steps check their settings at listener start: a bad one is a configuration error naming the section and the key', async (t) => {
  const ingest = (threshold: string): string => `[step.ingest]\nafter = new\nkind = ingest_detections\nthreshold = ${threshold}\n`;
  const processing = (extra: string): string => `[step.sp]\nafter = new\nkind = signal_processing\n${extra}\n`;
  const sftp = (extra: Record<string, string>): string => chainIni({transport: 'sftp', direction: 'push', host: 'sps.example.org', user: 'edw', key_file: 'id_test', ...extra});
  const key = (dir: string): Promise<void> => writeFile(join(dir, 'id_test'), 'not really a key\n');
  const cases: Array<[string, string, ((dir: string) => Promise<void>)?]> = [
    [ingest('abc'), '[step.ingest] threshold = abc: expected a number (ADC units)'],
    [processing('output_dir = out\nthreshold_sigma = -1'), '[step.sp] threshold_sigma = -1: expected a number above 0'],
    [processing(''), '[step.sp] output_dir is not set (where results files go, one folder per run)'],
    ['[step.move]\nafter = new\nkind = move_to_sps\n', '[step.move] target_dir is not set (where files go, one folder per run)'],
    [chainIni({transport: 'ftp'}), '[step.move_to_sps] transport = ftp: expected local or sftp'],
    [sftp({host: ''}), '[step.move_to_sps] host is not set (needed by transport = sftp)'],
    [sftp({port: 'twenty-two'}), '[step.move_to_sps] port = twenty-two: expected a port number'],
    [sftp({direction: 'sideways'}), '[step.move_to_sps] direction = sideways: expected push, pull'],
    [sftp({verify: 'trust'}), '[step.move_to_sps] verify = trust: expected read-back, command'],
    [sftp({host_key_check: 'maybe'}), '[step.move_to_sps] host_key_check = maybe: expected yes, accept-new, off'],
    [sftp({connect_timeout: '20'}), '[step.move_to_sps] connect_timeout = 20: expected a duration with its unit, like 500ms, 10s, 5m or 1h'],
    [sftp({idle_timeout: '0s'}), '[step.move_to_sps] idle_timeout = 0s: expected a duration above 0'],
  ];
  for (const [ini, message, prepare] of cases) t.is((await refusal(t, ini, prepare ?? key)).message, message);
  const missingKey = await refusal(t, sftp({}));
  t.regex(missingKey.message, /^\[step\.move_to_sps\] key_file = \/.*\/id_test: cannot be read \(ENOENT\)$/);

  const good = await workspace(t, {ini: sftp({port: '2222', verify: 'command', host_key_check: 'accept-new', connect_timeout: '5s'})});
  await key(good.dir);
  const steps = await loadSteps(good.config.steps);
  t.deepEqual(steps.map((s) => s.name), ['move_to_sps', 'signal_processing', 'ingest_detections']);
  await Promise.all(steps.map((s) => s.close?.()));
});

test('edw listen --once with threshold = abc exits 2 before touching a document: they stay at stage new with no process entries', async (t) => {
  const ws = await workspace(t, {ini: chainIni().replace('threshold = 50', 'threshold = abc')});
  await edw('--config', ws.configPath, 'init');
  const sim = await simulate({outDir: join(ws.dir, 'raw'), files: 2, events: 2});
  t.is((await edw('--config', ws.configPath, 'register', ...sim.files)).code, 0);
  const run = await edw('--config', ws.configPath, 'listen', '--once');
  t.is(run.code, 2, run.err.join('\n'));
  t.deepEqual(run.err, ['edw: [step.ingest_detections] threshold = abc: expected a number (ADC units)']);
  for (const id of ['ma22a000_000', 'ma22a000_001']) {
    const doc = JSON.parse((await edw('--config', ws.configPath, 'show', id, '--json')).out.join('\n')) as DataFileDoc;
    t.deepEqual(doc.process, [], id);
    t.is(doc.edw?.claim, undefined, id);
  }
  const status = JSON.parse((await edw('--config', ws.configPath, 'status', '--json')).out[0]!) as {stages: Record<string, number>};
  t.is(status.stages.new, 2);
});

test('a command given as ./bin/fit is found beside the config file and runs in that folder, whatever the working directory', async (t) => {
  const ws = await workspace(t, {ini: '[step.fit]\nafter = new\ncommand = ./bin/fit {input}\nversion = 1\n'});
  await mkdir(join(ws.dir, 'bin'));
  await writeFile(join(ws.dir, 'bin', 'fit'), `#!${process.execPath}\nconsole.log(JSON.stringify({cwd: process.cwd(), input: process.argv[2]}));\n`);
  await chmod(join(ws.dir, 'bin', 'fit'), 0o755);
  t.not(process.cwd(), ws.dir);
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  const summary = await drain(store, ws.config);
  t.deepEqual(summary.failed, []);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.like(doc.process[0], {name: 'fit', status: 'done', result: {cwd: await realpath(ws.dir), input: doc.original_file, command: [join(ws.dir, 'bin', 'fit'), doc.original_file]}});
});

test('a command whose executable is not there is refused at listener start, naming the step and the path', async (t) => {
  const error = await refusal(t, '[step.fit]\nafter = new\ncommand = ./bin/fit {input}\nversion = 1\n');
  t.regex(error.message, /^\[step\.fit\] command \.\/bin\/fit: \/.*\/bin\/fit does not exist$/);
  const notExecutable = await refusal(t, '[step.fit]\nafter = new\ncommand = bin/fit\nversion = 1\n', async (dir) => {
    await mkdir(join(dir, 'bin'));
    await writeFile(join(dir, 'bin', 'fit'), 'echo\n');
  });
  t.regex(notExecutable.message, /bin\/fit is not executable$/);
});

test('edw listen with a bad step setting exits 2 at once, before waiting for a database server that cannot be reached', async (t) => {
  // A closed port: the daemon would wait for this server (with backoff) before it loaded its steps.
  const ws = await workspace(t, {databaseUrl: 'http://127.0.0.1:9/edw', ini: chainIni().replace('threshold = 50', 'threshold = abc')});
  const daemon = spawnEdw(['--config', ws.configPath, 'listen']);
  // Only the failing path needs a bound: the old behaviour waits for the server for ever.
  const stuck = setTimeout(() => daemon.child.kill('SIGKILL'), 60_000);
  t.teardown(() => {
    clearTimeout(stuck);
    daemon.child.kill('SIGKILL');
  });
  const {code} = await daemon.exit;
  t.is(code, 2, daemon.stderr.join('\n'));
  t.deepEqual(daemon.stderr, ['edw: [step.ingest_detections] threshold = abc: expected a number (ADC units)']);
});

test('edw demo with a bad step setting exits 2 and does not create its folder', async (t) => {
  const ws = await workspace(t, {ini: chainIni().replace('threshold = 50', 'threshold = abc')});
  const dir = join(ws.dir, 'demo');
  const run = await edw('--config', ws.configPath, 'demo', '--dir', dir, '--files', '2');
  t.is(run.code, 2, run.err.join('\n'));
  t.deepEqual(run.err, ['edw: [step.ingest_detections] threshold = abc: expected a number (ADC units)']);
  t.false(existsSync(dir));
});
