import {writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import test from 'ava';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {drain, simulateAndRegister} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';

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
