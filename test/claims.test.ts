/**
 * Claims as leases, on both backends: competing listeners, takeover after expiry, renewal that keeps
 * a long step's document, and a result under a stale token refused. Steps here are in-process probes
 * whose progress the test controls, so every wait is on an event.
 */
import {once} from 'node:events';
import {join} from 'node:path';
import test, {type ExecutionContext} from 'ava';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import {Runner, updateDocument, type ChainStep, type StepContext, type StepEvent} from '../lib/runtime/index.js';
import type {Store} from '../lib/store/index.js';
import {forEachBackend, tempFolder, type Backend} from './helpers/backends.js';
import {simulateAndRegister} from './helpers/chain.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';

/** A step named `probe` after `new`, running `run`. */
function probe(run: (doc: DataFileDoc, ctx: StepContext) => Promise<StepResult>): ChainStep {
  return {name: 'probe', after: 'new', version: '1', concurrency: 4, attempts: 3, timeoutMs: 120_000, settings: {}, run};
}

/** A gate a step waits on until the test opens it. */
function gate(): {wait: Promise<void>; open(): void} {
  let open!: () => void;
  const wait = new Promise<void>((resolve) => (open = resolve));
  return {wait, open};
}

async function setup(t: ExecutionContext, backend: Backend, files: number): Promise<{store: Store; url: string; ids: string[]}> {
  const url = await backend.freshUrl(t);
  const store = await backend.open(t, {url});
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const ids = await simulateAndRegister(store, join(await tempFolder(t), 'raw'), files, 1);
  return {store, url, ids};
}

function startRunner(t: ExecutionContext, store: Store, step: ChainStep, owner: string, leaseMs: number): {run: Runner; events: Record<string, StepEvent[]>} {
  const run = new Runner({store, steps: [step], log: silentLogger(), owner, leaseMs, pollMs: 1000, backoffMs: 50, maxBackoffMs: 500, heartbeatMs: 0});
  const events: Record<string, StepEvent[]> = {started: [], completed: [], lost: []};
  for (const name of Object.keys(events)) run.stepListeners[0]!.on(name, (e: StepEvent) => events[name]!.push(e));
  const done = run.run();
  t.teardown(async () => {
    await run.stop(1000);
    await done.catch(() => undefined);
  });
  return {run, events};
}

/** The revisions of document `id` the feed shows after `since`, until one satisfies `last` (included). */
async function revisionsUntil(store: Store, id: string, since: string, last: (doc: DataFileDoc) => boolean): Promise<DataFileDoc[]> {
  const seen: DataFileDoc[] = [];
  while (seen.length === 0 || !last(seen[seen.length - 1]!)) {
    const page = await store.changes({since, includeDocs: true, waitMs: 5000});
    for (const change of page.results) if (change.id === id && change.doc) seen.push(change.doc as DataFileDoc);
    since = page.lastSeq;
  }
  return seen;
}

/** Take the claim over as another listener would after the lease ran out: a new token, another owner. */
async function stealClaim(store: Store, id: string): Promise<number> {
  const written = await updateDocument(store, id, (doc) => {
    const d = doc as DataFileDoc;
    const token = (d.edw?.token ?? 0) + 1;
    return {...d, edw: {...d.edw, token, claim: {...d.edw!.claim!, owner: 'thief', token, expires: Date.now() + 60_000}}};
  });
  return (written as DataFileDoc).edw!.token!;
}

forEachBackend((backend) => {
  test(`${backend.name}: two listeners on one step: each document is claimed and run by exactly one`, async (t) => {
    const {store, url, ids} = await setup(t, backend, 20);
    const other = await backend.openOther(t, url, store);
    const runs = new Map<string, number>();
    const step = probe(async (doc) => {
      runs.set(doc._id, (runs.get(doc._id) ?? 0) + 1);
      return {};
    });
    const a = startRunner(t, store, step, 'listener-a', 30_000);
    const b = startRunner(t, other, step, 'listener-b', 30_000);
    const completed = (): number => a.events.completed!.length + b.events.completed!.length;
    while (completed() < ids.length) await Promise.race([once(a.run, 'progress'), once(b.run, 'progress')]);
    t.is(completed(), ids.length);
    t.deepEqual([...runs.values()], ids.map(() => 1), 'no document ran twice');
    for (const doc of (await store.getMany(ids)) as DataFileDoc[]) {
      t.is(doc.process.filter((e) => e.name === 'probe').length, 1, doc._id);
      t.is(doc.edw?.claim, undefined, doc._id);
    }
  });

  test(`${backend.name}: a claim left by a crashed listener is taken over once its lease ends, with a new token`, async (t) => {
    const {store, ids} = await setup(t, backend, 1);
    const id = ids[0]!;
    const expires = Date.now() + 800;
    await updateDocument(store, id, (doc) => ({...doc!, edw: {token: 7, claim: {step: 'probe', version: '1', owner: 'crashed', host: 'gone', pid: 1, token: 7, expires, since: new Date().toISOString()}}}));
    const {run, events} = startRunner(t, store, probe(async () => ({})), 'survivor', 5000);
    const [started] = (await once(run.stepListeners[0]!, 'started')) as [StepEvent];
    t.is(started.id, id);
    t.true(Date.now() >= expires, 'not taken before the lease ended');
    await once(run.stepListeners[0]!, 'completed');
    const doc = (await store.get(id)) as DataFileDoc;
    t.is(doc.edw?.token, 8, 'the takeover drew the next fencing token');
    t.is(doc.process.filter((e) => e.name === 'probe').length, 1);
    t.is(events.lost!.length, 0);
  });

  // Serial, so that the file's other tests do not compete with the holder's renewals for this process,
  // and a lease long enough that only a holder stalled for 2/3 of it (4 s) could lose it: a renewal
  // runs every third of the lease, so two may come late before another listener may take over.
  test.serial(`${backend.name}: a step longer than the lease keeps its document: renewals hold off a second listener`, async (t) => {
    const {store, url, ids} = await setup(t, backend, 1);
    const id = ids[0]!;
    const release = gate();
    let runs = 0;
    const step = probe(async () => {
      runs++;
      await release.wait;
      return {};
    });
    const leaseMs = 6000;
    const a = startRunner(t, store, step, 'holder', leaseMs);
    await once(a.run.stepListeners[0]!, 'started');
    const since = (await store.info()).updateSeq;
    const claimedDoc = (await store.get(id)) as DataFileDoc;
    const other = await backend.openOther(t, url, store);
    const b = startRunner(t, other, step, 'contender', leaseMs);
    // Renewals until one is written after the claim's first lease would have ended: the contender,
    // there all along, was free to take the document from then on but for them.
    const firstEnd = claimedDoc.edw!.claim!.expires;
    const renewals = await revisionsUntil(store, id, since, (d) => !d.edw?.claim || d.edw.claim.expires - leaseMs > firstEnd);
    const claims = [claimedDoc, ...renewals].map((d) => d.edw?.claim);
    const context = claims.map((c) => (c ? `${c.owner} token ${c.token} expires ${c.expires}` : 'no claim')).join(', ');
    t.true(claims.every((c, i) => c && (i === 0 || c.expires > claims[i - 1]!.expires)), `each renewal pushed the lease end: ${context}`);
    t.true(claims.every((c) => c?.token === claimedDoc.edw!.claim!.token && c.owner === 'holder'), `renewals keep the token: ${context}`);
    release.open();
    await once(a.run.stepListeners[0]!, 'completed');
    t.is(runs, 1);
    t.is(b.events.started!.length, 0, 'the contender never started it');
    t.is(a.events.lost!.length, 0);
    const doc = (await store.get(id)) as DataFileDoc;
    t.is(doc.process.filter((e) => e.name === 'probe').length, 1);
  });

  test(`${backend.name}: a result written under a stale token is refused and the document keeps the new holder's claim`, async (t) => {
    const {store, ids} = await setup(t, backend, 1);
    const id = ids[0]!;
    const release = gate();
    // A lease long enough that no renewal runs: the refusal comes from the write itself.
    const {run, events} = startRunner(t, store, probe(async () => {
      await release.wait;
      return {late: true};
    }), 'slow', 60_000);
    await once(run.stepListeners[0]!, 'started');
    const token = await stealClaim(store, id);
    release.open();
    await once(run.stepListeners[0]!, 'lost');
    t.is(events.completed!.length, 0);
    const doc = (await store.get(id)) as DataFileDoc;
    t.deepEqual(doc.process, [], 'nothing recorded under the stale token');
    t.is(doc.edw?.claim?.owner, 'thief');
    t.is(doc.edw?.claim?.token, token);
  });

  test(`${backend.name}: a renewal that finds the claim taken over aborts the running step`, async (t) => {
    const {store, ids} = await setup(t, backend, 1);
    const id = ids[0]!;
    let reason: unknown;
    const {run} = startRunner(t, store, probe(async (_doc, ctx) => {
      await once(ctx.signal, 'abort');
      reason = ctx.signal.reason;
      throw reason;
    }), 'renewer', 900);
    await once(run.stepListeners[0]!, 'started');
    await stealClaim(store, id);
    await once(run.stepListeners[0]!, 'lost');
    t.regex(String((reason as Error | undefined)?.message), /no longer holds claim/);
    const doc = (await store.get(id)) as DataFileDoc;
    t.deepEqual(doc.process, []);
    t.is(doc.edw?.claim?.owner, 'thief');
  });

  test(`${backend.name}: sweeps of many small pages, while the chain's own writes move documents on, start every waiting document once per step`, async (t) => {
    const {store, ids} = await setup(t, backend, 23);
    const runs = new Map<string, number>();
    const count = (step: string) => async (doc: DataFileDoc): Promise<StepResult> => {
      runs.set(`${step} ${doc._id}`, (runs.get(`${step} ${doc._id}`) ?? 0) + 1);
      return {};
    };
    const first: ChainStep = {...probe(count('first')), name: 'first', concurrency: 2};
    const second: ChainStep = {...probe(count('second')), name: 'second', after: 'first', concurrency: 2};
    // Pages of 3: the later pages of each sweep read the index as the first page left it.
    const run = new Runner({store, steps: [first, second], log: silentLogger(), owner: 'pager', pageSize: 3, pollMs: 1000, heartbeatMs: 0, once: true});
    const summary = await run.run();
    t.is(summary.completed, 2 * ids.length);
    t.deepEqual([...runs.values()].filter((n) => n !== 1), []);
    t.is(runs.size, 2 * ids.length);
    for (const doc of (await store.getMany(ids)) as DataFileDoc[]) t.deepEqual(doc.process.map((e) => e.name), ['first', 'second']);
  });
});
