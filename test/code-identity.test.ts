import {execFileSync} from 'node:child_process';
import {chmod, mkdir, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import md5File from 'md5-file';
import {registerFiles} from '../lib/register/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {drain} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';

const git = (dir: string, ...args: string[]): string => execFileSync('git', args, {cwd: dir, encoding: 'utf8'}).trim();

test('every entry records the code it ran (md5, git commit and dirtiness) and its settings, secrets left out', async (t) => {
  const ws = await workspace(t, {ini: `
[step.fit]
after = new
command = ./code/fit.sh {input}
version = 3
[step.calibrate]
after = fit
module = ./code/calibrate.mjs
window = 8
api_password = hunter2
`});
  const code = join(ws.dir, 'code');
  await mkdir(code);
  await writeFile(join(code, 'fit.sh'), '#!/bin/sh\necho \'{"fitted": true}\'\n');
  await chmod(join(code, 'fit.sh'), 0o755);
  await writeFile(join(code, 'calibrate.mjs'), `export default {version: '2', settings: {window: 'samples', api_password: 'a secret'}, async run() { return {calibrated: true}; }};\n`);
  git(code, 'init', '-q');
  git(code, '-c', 'user.name=t', '-c', 'user.email=t@t', 'add', '.');
  git(code, '-c', 'user.name=t', '-c', 'user.email=t@t', 'commit', '-qm', 'first');
  const commit = git(code, 'rev-parse', 'HEAD');
  await writeFile(join(ws.dir, 'raw', 'r_000.edwr'), 'raw');
  const store = await ws.open();
  await registerFiles({store, paths: [join(ws.dir, 'raw', 'r_000.edwr')], settleMs: 0});
  await drain(store, ws.config);
  const doc = (await store.get('r_000')) as DataFileDoc;
  const [fit, calibrate] = doc.process;
  t.is(fit!.status, 'done');
  t.deepEqual(fit!.code, {file: join(code, 'fit.sh'), md5: await md5File(join(code, 'fit.sh')), git: {commit, dirty: false}});
  t.deepEqual(calibrate!.code, {file: join(code, 'calibrate.mjs'), md5: await md5File(join(code, 'calibrate.mjs')), git: {commit, dirty: false}});
  t.like(calibrate!.settings, {window: '8', after: 'fit'});
  t.false('api_password' in (calibrate!.settings as object), 'api_password is left out');
  t.false(JSON.stringify(doc).includes('hunter2'));
});

test('built-in steps record the edw release they ship with', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const {simulateAndRegister} = await import('./helpers/chain.js');
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  await drain(store, ws.config);
  const doc = (await store.get(id!)) as DataFileDoc;
  t.is(doc.process.length, 3);
  for (const entry of doc.process) t.regex(String((entry.code as {builtin?: string}).builtin), /^edw \d+\.\d+\.\d+/);
  t.like(doc.process[2]!.settings, {threshold: '50', kind: 'ingest_detections'});
});
