/**
 * The process's one changes feed (SharedFeed), on both backends: every request is one filtered feed
 * for all the process's stages, each document reaches the listener of its stage, and a listener whose
 * queue is full leaves what the feed shows to a sweep without losing or doubling anything.
 */
import {hostname} from 'node:os';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import {Runner, type ChainStep, type StepContext} from '../lib/runtime/index.js';
import type {ChangesParams, Store} from '../lib/store/index.js';
import {forEachBackend, tempFolder, type Backend} from './helpers/backends.js';
import {simulateAndRegister} from './helpers/chain.js';

type Run = (doc: DataFileDoc, ctx: StepContext) => Promise<StepResult>;

function step(name: string, after: string, concurrency: number, run: Run): ChainStep {
  return {name, after, version: '1', concurrency, attempts: 3, timeoutMs: 120_000, settings: {}, run};
}

/** The store, with every changes request and the number of view queries it is asked for recorded. */
async function setup(t: ExecutionContext, backend: Backend): Promise<{store: Store; requests: ChangesParams[]; queries: () => number}> {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const requests: ChangesParams[] = [];
  const changes = store.changes.bind(store);
  store.changes = (params) => {
    requests.push(params);
    return changes(params);
  };
  // Sweeps read rows with their documents; a drain check (one row, no document) is not a sweep.
  let queries = 0;
  const query = store.query.bind(store);
  store.query = (params) => {
    if (params.includeDocs) queries++;
    return query(params);
  };
  return {store, requests, queries: () => queries};
}

function start(t: ExecutionContext, store: Store, steps: ChainStep[], pageSize?: number): {run: Runner; done: Promise<unknown>} {
  const run = new Runner({store, steps, log: silentLogger(), pollMs: 500, heartbeatMs: 0, countsMs: 0, ...(pageSize ? {pageSize} : {})});
  const done = run.run();
  t.teardown(async () => {
    await run.stop(1000);
    await done.catch(() => undefined);
  });
  return {run, done};
}

/** Resolves once `count` completions of `stepName` have been seen on the runner's listeners. */
function completions(run: Runner, stepName: string, count: number): Promise<Map<string, number>> {
  const seen = new Map<string, number>();
  let total = 0;
  return new Promise((resolve) => {
    for (const listener of run.stepListeners) {
      listener.on('completed', (e: {id: string; step: string}) => {
        if (e.step !== stepName) return;
        seen.set(e.id, (seen.get(e.id) ?? 0) + 1);
        if (++total === count) resolve(seen);
      });
    }
  });
}

forEachBackend((backend) => {
  test(`${backend.name}: one feed request serves every step of the process, and its position is saved under their names`, async (t) => {
    const {store, requests} = await setup(t, backend);
    const noop: Run = async () => ({});
    const steps = [step('first', 'new', 2, noop), step('second', 'first', 2, noop)];
    const {run} = start(t, store, steps);
    const done = completions(run, 'second', 4);
    await simulateAndRegister(store, join(await tempFolder(t), 'raw'), 4, 1);
    t.is((await done).size, 4);
    await run.stop();
    const feeds = requests.filter((r) => r.filter);
    t.true(feeds.length > 0);
    for (const r of feeds) t.deepEqual(r.filter, {name: 'edw/stages', params: {stages: ',new,first,'}});
    const saved = await store.getLocal(`edw-feed-first+second-${hostname()}`);
    t.is(typeof saved?.seq, 'string');
    t.deepEqual(saved?.steps, ['first', 'second']);
  });

  /** A slow step of concurrency 1, feed pages of 2, and 12 documents registered once the start-up sweep found none. */
  async function slowStepUnderFeed(t: ExecutionContext): Promise<{seen: Map<string, number>; startup: number; queries: () => number}> {
    const {store, queries} = await setup(t, backend);
    let release!: () => void;
    const opened = new Promise<void>((resolve) => (release = resolve));
    const slow: Run = async () => {
      await opened;
      return {};
    };
    const {run} = start(t, store, [step('only', 'new', 1, slow)], 2);
    const done = completions(run, 'only', 12);
    const started = new Promise((resolve) => run.stepListeners[0]!.once('started', resolve));
    // Registered once the start-up sweep has found nothing (else it may find them all itself).
    await new Promise((resolve) => run.once('caught-up', resolve));
    const startup = queries();
    await simulateAndRegister(store, join(await tempFolder(t), 'raw'), 12, 1);
    await started;
    release();
    return {seen: await done, startup, queries};
  }

  test(`${backend.name}: documents the feed shows while a step is slow are each run once`, async (t) => {
    const {seen} = await slowStepUnderFeed(t);
    t.is(seen.size, 12);
    t.true([...seen.values()].every((n) => n === 1), JSON.stringify([...seen]));
  });

  // Jobs waiting for a slot count wherever they wait (the outer queue lets concurrency + recordWindow
  // jobs past it to wait for a slot inside): the feed takes in at most a page of them.
  test(`${backend.name}: past a page of documents waiting for a slow step, the feed leaves the rest to a sweep`, async (t) => {
    const {startup, queries} = await slowStepUnderFeed(t);
    t.true(queries() > startup, `sweep queries: ${startup} at start-up, ${queries()} in all`);
  });
});
