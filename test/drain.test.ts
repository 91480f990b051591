/**
 * The drain check (is anything left to do?) on every backend: it asks whether one document waits at a
 * stage rather than counting them, and after a check that found work the next one waits, so that a
 * busy chain's many idle moments do not each make the database bring the stage view up to date.
 */
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import {DrainCheck, type DrainCheckOptions, type DrainListener} from '../lib/runtime/drain.js';
import type {ChainStep} from '../lib/runtime/index.js';
import type {Store, ViewParams} from '../lib/store/index.js';
import {forEachBackend, tempFolder, type Backend} from './helpers/backends.js';
import {simulateAndRegister} from './helpers/chain.js';

/** A listener as the drain check sees it: idle, at `after`, counting the sweeps asked of it. */
function listener(after: string): DrainListener & {sweeps: number} {
  const step = {name: `after-${after}`, after} as ChainStep;
  return {
    busy: 0, step, sweeps: 0,
    requestSweep() {
      this.sweeps++;
    },
  };
}

/** A store with 3 documents at stage `new`, every view query it answers recorded. */
async function setup(t: ExecutionContext, backend: Backend): Promise<{store: Store; queries: ViewParams[]}> {
  const store = await backend.open(t);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  await simulateAndRegister(store, join(await tempFolder(t), 'raw'), 3, 1);
  const queries: ViewParams[] = [];
  const query = store.query.bind(store);
  store.query = (params) => {
    queries.push(params);
    return query(params);
  };
  return {store, queries};
}

function drainCheck(t: ExecutionContext, options: Omit<DrainCheckOptions, 'log'>): DrainCheck {
  const check = new DrainCheck({log: silentLogger(), ...options});
  t.teardown(() => check.stop());
  return check;
}

forEachBackend((backend) => {
  test(`${backend.name}: a check reads one row of the stage view, not a count, and asks a once-run's listener to sweep`, async (t) => {
    const {store, queries} = await setup(t, backend);
    const waiting = listener('new');
    let drained = 0;
    const check = drainCheck(t, {store, listeners: [waiting], once: true, drained: () => drained++});
    await check.check();
    t.is(drained, 0);
    t.is(waiting.sweeps, 1);
    t.is(queries.length, 1);
    t.like(queries[0], {view: 'stage', reduce: false, limit: 1, startkey: ['new', 'ready']});
    t.falsy(queries[0]!.includeDocs);
  });

  test(`${backend.name}: checks asked for right after one that found work wait for their turn, and none is lost`, async (t) => {
    const {store, queries} = await setup(t, backend);
    // Each query takes 50 ms on this clock, so a check that found work makes the next wait 500 ms.
    let offset = 0;
    const query = store.query.bind(store);
    store.query = async (params) => {
      offset += 50;
      return query(params);
    };
    const at = listener('new');
    let resolveDrained!: (first: boolean) => void;
    const drained = new Promise<boolean>((resolve) => {
      resolveDrained = resolve;
    });
    const check = drainCheck(t, {store, listeners: [at], drained: resolveDrained, now: () => Date.now() + offset});
    await check.check();
    t.is(queries.length, 1);
    // The work moves on (here: the listener now waits at a stage nothing is at); twenty idle moments follow.
    (at.step as {after: string}).after = 'none-here';
    for (let i = 0; i < 20; i++) await check.check();
    t.is(queries.length, 1, 'asked too soon: no query yet');
    t.true(await drained, 'the deferred check ran and found the work drained: the first time');
    t.is(queries.length, 2);
    t.like(queries[1], {startkey: ['none-here', 'ready']});
  });
});
