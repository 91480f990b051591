/**
 * Hand-off, on both backends: when the next step runs in the same process, the write that records a
 * step's result also claims the document for the next step, which then runs without a claim write of
 * its own. What must still hold: one run per step, the claim given back on stop, and a hand-over that
 * waited past its lease claimed afresh.
 */
import {once} from 'node:events';
import {join} from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import {Runner, type ChainStep, type StepContext, type StepEvent} from '../lib/runtime/index.js';
import type {Store} from '../lib/store/index.js';
import {forEachBackend, tempFolder, type Backend} from './helpers/backends.js';
import {simulateAndRegister} from './helpers/chain.js';

type Run = (doc: DataFileDoc, ctx: StepContext) => Promise<StepResult>;

function step(name: string, after: string, concurrency: number, run: Run): ChainStep {
  return {name, after, version: '1', concurrency, attempts: 3, timeoutMs: 120_000, settings: {}, run};
}

async function setup(t: ExecutionContext, backend: Backend, files: number): Promise<{store: Store; ids: string[]}> {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const ids = await simulateAndRegister(store, join(await tempFolder(t), 'raw'), files, 1);
  return {store, ids};
}

/** A Runner for `steps`; `waits` (armed on its listeners before anything runs) are awaited by the caller. */
function start<T>(t: ExecutionContext, store: Store, steps: ChainStep[], arm: (run: Runner) => T, leaseMs = 30_000): {run: Runner; armed: T} {
  const run = new Runner({store, steps, log: silentLogger(), owner: 'one-process', leaseMs, pollMs: 1000, heartbeatMs: 0, countsMs: 0});
  const armed = arm(run);
  const done = run.run();
  t.teardown(async () => {
    await run.stop(1000);
    await done.catch(() => undefined);
  });
  return {run, armed};
}

/** Resolves once `listener` has emitted `event` for `count` documents (counted from now). */
function events(listener: NodeJS.EventEmitter, event: string, count: number): Promise<StepEvent[]> {
  const seen: StepEvent[] = [];
  return new Promise((resolve) => {
    const on = (e: StepEvent): void => {
      seen.push(e);
      if (seen.length < count) return;
      listener.off(event, on);
      resolve(seen);
    };
    listener.on(event, on);
  });
}

/** A step whose first document waits until `open` is called or the step is aborted; the others run at once. */
function gatedFirst(): {run: Run; first: () => string | undefined; open(): void} {
  let first: string | undefined;
  let open!: () => void;
  const gate = new Promise<void>((resolve) => (open = resolve));
  const run: Run = async (doc, ctx) => {
    if (first === undefined || first === doc._id) {
      first = doc._id;
      await Promise.race([gate, once(ctx.signal, 'abort')]);
    }
    return {};
  };
  return {run, first: () => first, open};
}

forEachBackend((backend) => {
  test(`${backend.name}: three steps in one process: the result write claims the next step, 5 revisions per document instead of 7`, async (t) => {
    const {store, ids} = await setup(t, backend, 6);
    const runs = new Map<string, number>();
    const count: Run = async (doc, ctx) => {
      runs.set(`${ctx.step} ${doc._id}`, (runs.get(`${ctx.step} ${doc._id}`) ?? 0) + 1);
      return {};
    };
    const steps = [step('a', 'new', 8, count), step('b', 'a', 8, count), step('c', 'b', 8, count)];
    const {armed} = start(t, store, steps, (run) => events(run.stepListeners[2]!, 'completed', ids.length));
    await armed;
    t.is(runs.size, 3 * ids.length);
    t.deepEqual([...runs.values()].filter((n) => n !== 1), []);
    for (const doc of (await store.getMany(ids)) as DataFileDoc[]) {
      t.deepEqual(doc.process.map((e) => [e.name, e.status]), [['a', 'done'], ['b', 'done'], ['c', 'done']]);
      t.is(doc.edw?.claim, undefined);
      // Registration, claim of a, result of a + claim of b, result of b + claim of c, result of c.
      t.is(doc._rev?.split('-')[0], '5', doc._id);
      t.is(doc.edw?.token, 3, 'one fencing token per step');
    }
  });

  test(`${backend.name}: a document handed to a step whose listener stops before starting it is given back unclaimed`, async (t) => {
    const {store, ids} = await setup(t, backend, 2);
    const gated = gatedFirst();
    const steps = [step('a', 'new', 4, async () => ({})), step('b', 'a', 1, gated.run)];
    const {run, armed} = start(t, store, steps, (r) => Promise.all([events(r.stepListeners[0]!, 'completed', 2), events(r.stepListeners[1]!, 'started', 1)]));
    // Both recorded a: one runs b (held at the gate), the other waits in b's queue with its claim.
    await armed;
    const queued = ids.find((id) => id !== gated.first())!;
    const handed = (await store.get(queued)) as DataFileDoc;
    t.like(handed.edw?.claim, {step: 'b', owner: 'one-process'});
    await run.stop(200);
    for (const doc of (await store.getMany(ids)) as DataFileDoc[]) {
      t.deepEqual(doc.process.map((e) => e.name), ['a'], doc._id);
      t.is(doc.edw?.claim, undefined, doc._id);
    }
  });

  test(`${backend.name}: a hand-over that waited in the queue past its lease is claimed afresh, and runs once`, async (t) => {
    const {store, ids} = await setup(t, backend, 2);
    const gated = gatedFirst();
    // Long enough that the held document, adopted at once, is still within it on a busy machine.
    const leaseMs = 3000;
    const runsB = new Map<string, number>();
    const b: Run = async (doc, ctx) => {
      runsB.set(doc._id, (runsB.get(doc._id) ?? 0) + 1);
      return gated.run(doc, ctx);
    };
    const {armed} = start(t, store, [step('a', 'new', 4, async () => ({})), step('b', 'a', 1, b)],
      (run) => ({a: Promise.all([events(run.stepListeners[0]!, 'completed', 2), events(run.stepListeners[1]!, 'started', 1)]), b: events(run.stepListeners[1]!, 'completed', 2)}), leaseMs);
    await armed.a;
    const queued = ids.find((id) => id !== gated.first())!;
    const handed = (await store.get(queued)) as DataFileDoc;
    t.is(handed.edw?.claim?.step, 'b');
    // Let the queued document's lease run out (the running one's is renewed meanwhile), then go on.
    await delay(handed.edw!.claim!.expires - Date.now() + 50);
    gated.open();
    await armed.b;
    t.deepEqual([...runsB.values()], [1, 1]);
    const [held, late] = (await store.getMany([gated.first()!, queued])) as DataFileDoc[];
    t.is(held!.edw?.token, 2, 'the held document ran on its hand-over claim');
    t.is(late!.edw?.token, 3, 'the late one drew a new token');
    for (const doc of [held!, late!]) t.deepEqual(doc.process.map((e) => e.name), ['a', 'b']);
  });
});
