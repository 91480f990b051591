import {hostname} from 'node:os';
import {join} from 'node:path';
import test from 'ava';
import {ConfigError} from '../lib/errors/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {registerFiles} from '../lib/register/index.js';
import {ClaimLostError} from '../lib/runtime/index.js';
import {withClaim, withEntry} from '../lib/runtime/claim.js';
import {openStore} from '../lib/store/index.js';
import {runner, simulateAndRegister} from './helpers/chain.js';
import {workspace} from './helpers/workspace.js';

test('re-registering with --replace never hands out a fencing token again', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  const [id] = await simulateAndRegister(store, join(ws.dir, 'raw'), 1, 2);
  const original = (await store.get(id!)) as DataFileDoc;
  // A listener claims the old registration...
  const spec = {step: 'move_to_sps', version: '1', owner: 'old-listener', host: 'h', pid: 1, leaseMs: 60_000, now: Date.now()};
  const {doc: claimed, claim} = withClaim(original, spec);
  await store.put(claimed);
  // ...the file changes and is registered again...
  const {writeFile, readFile} = await import('node:fs/promises');
  await writeFile(original.original_file!, Buffer.concat([await readFile(original.original_file!), Buffer.from([7])]));
  const report = await registerFiles({store, paths: [original.original_file!], settleMs: 0, replace: true});
  t.deepEqual(report.replaced, [id]);
  // ...and a new listener claims the new registration.
  const fresh = (await store.get(id!)) as DataFileDoc;
  const {claim: next} = withClaim(fresh, {...spec, owner: 'new-listener'});
  t.true(next.token > claim.token, `token ${next.token} after ${claim.token}`);
  // The old listener's late result is refused.
  const entry = {name: 'move_to_sps', status: 'done' as const, version: '1'};
  t.throws(() => withEntry({...fresh, edw: {...fresh.edw, claim: next}}, claim.token, 'old-listener', entry, {kind: 'done'}), {instanceOf: ClaimLostError});
});

test('a soft stop saves the feed position of what was handled', async (t) => {
  const ws = await workspace(t);
  const store = await ws.open();
  await simulateAndRegister(store, join(ws.dir, 'raw'), 2, 2);
  const run = await runner(store, ws.config, {names: ['move_to_sps']});
  const listener = run.stepListeners[0]!;
  let completed = 0;
  const both = new Promise<void>((resolve) => listener.on('completed', () => ++completed === 2 && resolve()));
  const done = run.run();
  await both;
  // The completions changed the documents: the next feed page carries them, then the position is saved.
  await new Promise<void>((resolve) => listener.once('idle', () => resolve()));
  await run.stop();
  await done;
  const saved = await store.getLocal(`edw-feed-move_to_sps-${hostname()}`);
  t.is(typeof saved?.seq, 'string');
});

test('a password containing a slash or a bare % never shows in a bad-URL error', async (t) => {
  const bad = await t.throwsAsync(openStore({url: 'http://admin:se/cret@couch:99999/edw'}), {instanceOf: ConfigError});
  t.false(bad!.message.includes('cret'), bad!.message);
  const percent = await t.throwsAsync(openStore({url: 'http://admin:50%off@127.0.0.1:9/edw'}));
  t.false(percent!.message.includes('50%off'), percent!.message);
  t.regex(percent!.message, /cannot reach the database/);
});
