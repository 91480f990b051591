/**
 * The runtime through the fault-injecting proxy (test/helpers/fault-proxy.ts), in front of the test
 * server (pouchdb-server, or the CouchDB of EDW_TEST_COUCHDB_URL): opaque seqs, a feed that rewinds to
 * 0, a silent feed, the database going away and coming back, 409 storms and 5xx answers. Every wait
 * is on an event (a step event, a proxy count), never a sleep.
 */
import {once} from 'node:events';
import {join} from 'node:path';
import {Writable} from 'node:stream';
import test, {type ExecutionContext} from 'ava';
import {createLogger, type Logger} from '../lib/log/index.js';
import {stageOf, type DataFileDoc} from '../lib/pipeline/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {writeConflict} from './helpers/conflicts.js';
import {registerFiles} from '../lib/register/index.js';
import {Runner, type RunnerOptions, type StepEvent} from '../lib/runtime/index.js';
import {simulate} from '../lib/simulate/index.js';
import {openStore, type Store} from '../lib/store/index.js';
import {loadSteps} from '../listeners/index.js';
import {allDataDocs, completions} from './helpers/chain.js';
import {testServer} from './helpers/backends.js';
import {startFaultProxy, type FaultProxy, type FaultProxyOptions, type SeenRequest} from './helpers/fault-proxy.js';
import {spawnEdw, type EdwProcess} from './helpers/cli.js';
import {workspace, type Workspace} from './helpers/workspace.js';

interface Setup {
  proxy: FaultProxy;
  ws: Workspace;
  /** The database through the proxy. */
  store: Store;
  /** The same database straight to the server, for writes the faults must not touch. */
  direct: Store;
}

/**
 * The database through a fresh proxy. Requests wait the product's default request timeout (a busy
 * machine makes the server slow, not unreachable) unless `requestTimeout` is given: a test whose
 * faults are only noticed by a timeout (an answer lost on the way) sets a short one.
 */
async function throughProxy(t: ExecutionContext, options: FaultProxyOptions & {requestTimeout?: string} = {}): Promise<Setup> {
  const server = await testServer();
  const {requestTimeout, ...proxyOptions} = options;
  const proxy = await startFaultProxy(server.url, proxyOptions);
  t.teardown(() => proxy.close());
  const directUrl = server.databaseUrl('edw-faults');
  t.teardown(() => server.deleteDatabase(directUrl));
  const ws = await workspace(t, {databaseUrl: proxy.databaseUrl(directUrl), requestTimeout});
  const store = await ws.open();
  const direct = await openStore({url: directUrl});
  t.teardown(() => direct.close());
  return {proxy, ws, store, direct};
}

/** Lines logged, for tests that count them. */
function memoryLogger(): {log: Logger; lines: string[]} {
  const lines: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _encoding, done) {
      if (process.env.EDW_TEST_LOG) process.stderr.write(chunk);
      lines.push(...chunk.toString('utf8').split('\n').filter(Boolean));
      done();
    },
  });
  return {log: createLogger({level: process.env.EDW_TEST_LOG ? 'debug' : 'info', stream}), lines};
}

/** A running (not once) runner over the chain, with every step start and completion recorded. */
interface Running {
  run: Runner;
  started: StepEvent[];
  completed: StepEvent[];
  /** Attempts that failed and will be tried again (a step start that is not a second claim). */
  retrying: StepEvent[];
  done: Promise<unknown>;
}

async function startRunner(t: ExecutionContext, setup: Setup, log?: Logger, options: Partial<RunnerOptions> = {}): Promise<Running> {
  const {ws, store} = setup;
  const run = new Runner({
    store, steps: await loadSteps(ws.config.steps), log: log ?? memoryLogger().log, heartbeatMs: 0,
    leaseMs: ws.config.listen.leaseMs, pollMs: ws.config.listen.pollMs, backoffMs: ws.config.listen.backoffMs, maxBackoffMs: ws.config.listen.maxBackoffMs,
    ...options,
  });
  const started: StepEvent[] = [];
  const completed: StepEvent[] = [];
  const retrying: StepEvent[] = [];
  for (const listener of run.stepListeners) {
    listener.on('started', (e: StepEvent) => started.push(e));
    listener.on('retrying', (e: StepEvent) => retrying.push(e));
    listener.on('completed', (e: StepEvent) => {
      completed.push(e);
      run.emit('step-completed');
    });
  }
  const done = run.run();
  t.teardown(async () => {
    await run.stop(1000);
    await done.catch(() => undefined);
  });
  return {run, started, completed, retrying, done};
}

/**
 * Each step started once per document, but for attempts recorded as failed and retried: on a busy
 * machine a step may time out, and that is a retry, not the second start these tests look for.
 */
function assertStartedOnceEach(t: ExecutionContext, running: Running, documents: number, message: string): void {
  const retries = running.retrying.map((e) => `${e.step} ${e.id}: ${e.entry.error?.message ?? ''}`);
  t.is(running.started.length, 3 * documents + running.retrying.length, `${message}; retries: ${retries.join('; ') || 'none'}`);
}

/** Resolves once every one of `ids` completed the last step of the chain. */
async function untilThrough(run: Runner, completed: StepEvent[], ids: string[], lastStep = 'ingest_detections'): Promise<void> {
  const through = (): boolean => ids.every((id) => completed.some((e) => e.id === id && e.step === lastStep));
  while (!through()) await once(run, 'step-completed');
}

async function registerNew(setup: Setup, store: Store, files: number, first: number): Promise<string[]> {
  // A run name per batch keeps the documents' ids apart.
  const sim = await simulate({outDir: join(setup.ws.dir, 'raw', `batch-${first}`), files, events: 2, seed: first + 1, run: `ma22a${String(first).padStart(3, '0')}`});
  return (await registerFiles({store, paths: sim.files, settleMs: 0})).created;
}

function assertOnceEach(t: ExecutionContext, docs: DataFileDoc[]): void {
  for (const doc of docs) t.deepEqual(completions(doc), {move_to_sps: 1, signal_processing: 1, ingest_detections: 1}, doc._id);
}

test('with opaque seq strings the chain completes, the saved feed position is the server\'s string, and a restart resumes from it', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.store, 6, 0);
  const first = await startRunner(t, setup);
  await untilThrough(first.run, first.completed, ids);
  await first.run.stop();
  const saved = await setup.direct.getLocal(`edw-feed-move_to_sps+signal_processing+ingest_detections-${(await import('node:os')).hostname()}`);
  t.true(setup.proxy.isOpaqueSeq(saved?.seq), `saved position ${JSON.stringify(saved?.seq)} is the proxy's opaque string`);

  const resumedBefore = setup.proxy.counts.opaqueSinces;
  const more = await registerNew(setup, setup.direct, 4, 100);
  const second = await startRunner(t, setup);
  await untilThrough(second.run, second.completed, more);
  t.true(setup.proxy.counts.opaqueSinces > resumedBefore, 'the restarted listener read the feed from its saved opaque position');
  t.is(second.started.filter((e) => ids.includes(e.id)).length, 0, 'nothing done before the restart ran again');
  assertOnceEach(t, await allDataDocs(setup.direct, [...ids, ...more]));
});

test('a feed that rewinds to 0 costs a re-read, not a step: nothing runs twice and new files still go through', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.store, 8, 0);
  const running = await startRunner(t, setup);
  const {run, completed} = running;
  await untilThrough(run, completed, ids);
  // Every listener's next feed request is answered from 0, with seqs it has never seen.
  setup.proxy.rewindFeeds(3);
  await setup.proxy.waitFor('rewound', 3);
  const more = await registerNew(setup, setup.direct, 4, 200);
  await untilThrough(run, completed, more);
  assertStartedOnceEach(t, running, ids.length + more.length, 'each step started once per document');
  assertOnceEach(t, await allDataDocs(setup.direct, [...ids, ...more]));
});

test('a feed held open and silent (headers and heartbeats, no body) is given up and reopened, and the change behind it is handled', async (t) => {
  // The held requests are given up only by their deadlines: a long-poll's wait plus its grace, and for
  // a normal feed read (the counts keeper's) the request timeout, kept short here as before.
  const setup = await throughProxy(t, {requestTimeout: '5s'});
  // The conflict keeper's feed reads are left out: the three held requests are the feed's and the counts keeper's.
  const {run, completed} = await startRunner(t, setup, undefined, {conflictsMs: 0});
  // Wait for the listeners to sit in their long-polls, then hold the next one of each silent.
  await setup.proxy.waitFor('forwarded', 1);
  setup.proxy.silenceFeeds(3, {heartbeatMs: 100});
  await setup.proxy.waitFor('held', 3);
  const ids = await registerNew(setup, setup.direct, 2, 300);
  await untilThrough(run, completed, ids);
  // The documents may be through (on a reopened feed) before every held request has reached its
  // deadline: wait for the give-ups themselves. The bound is only for the failing case.
  const givenUp = await Promise.race([
    setup.proxy.waitFor('heldClosedByClient', 3).then(() => true),
    new Promise<false>((resolve) => setTimeout(resolve, 60_000, false).unref()),
  ]);
  t.true(givenUp, `each held connection was given up by the listener (${setup.proxy.counts.heldClosedByClient} of 3)`);
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('the database going away and coming back: logged once each way, and work registered meanwhile is done', async (t) => {
  const setup = await throughProxy(t);
  const {log, lines} = memoryLogger();
  const before = await registerNew(setup, setup.store, 3, 0);
  const {run, completed} = await startRunner(t, setup, log);
  await untilThrough(run, completed, before);
  const reachability = (from = 0): string[] => lines.slice(from).filter((l) => /database (unreachable|reachable again)/.test(l));
  const beforeOutage = lines.length;
  setup.proxy.down();
  // Files arrive while the listeners cannot reach the database; they keep trying.
  const during = await registerNew(setup, setup.direct, 3, 400);
  await setup.proxy.waitFor('refused', 8);
  const whileDown = reachability(beforeOutage);
  setup.proxy.up();
  await untilThrough(run, completed, during);
  // Not a count of lines over the whole run: a request slowed past its timeout on a busy machine is an
  // outage too, logged as one. What must hold: 8 refused tries and at most one line while the proxy
  // was down, and every 'unreachable' answered by one 'reachable again', the last line saying it is back.
  const all = reachability();
  t.true(whileDown.filter((l) => /unreachable/.test(l)).length <= 1, `one line for ${setup.proxy.counts.refused} refused tries:\n${whileDown.join('\n')}`);
  t.true(all.length >= 2 && all.every((l, i) => /unreachable/.test(l) === (i % 2 === 0)) && all.length % 2 === 0,
    `'database unreachable' and 'database reachable again' take turns, ending with back:\n${all.join('\n')}`);
  t.false(lines.some((l) => /listener stopped by an error/.test(l)));
  assertOnceEach(t, await allDataDocs(setup.direct, [...before, ...during]));
});

test('a storm of 409s on one document delays it but it completes each step once, and the others are untouched', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.store, 4, 0);
  const stormy = ids[0]!;
  const storm = setup.proxy.conflictOn(stormy, 30);
  const running = await startRunner(t, setup);
  await untilThrough(running.run, running.completed, ids);
  t.is(storm.hits, 30, 'every injected conflict was met');
  assertStartedOnceEach(t, running, ids.length, 'a conflict on a claim is not a second start');
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('5xx answers, dropped connections and lost answers on many requests: every step completes once', async (t) => {
  // A lost answer is noticed only when the request times out.
  const setup = await throughProxy(t, {requestTimeout: '5s'});
  const ids = await registerNew(setup, setup.direct, 6, 0);
  let n = 0;
  setup.proxy.events.on('request', () => n++);
  const write = (r: {method: string; path: string}): boolean => r.method !== 'GET' && !r.path.includes('/_local/');
  const faults = [
    setup.proxy.inject({match: () => n % 6 === 0, status: 503, times: 40}),
    setup.proxy.inject({match: () => n % 6 === 3, status: 500, times: 40}),
    setup.proxy.inject({match: (r) => n % 7 === 0 && !r.path.endsWith('_changes'), status: 'drop', times: 10}),
    // The server writes, the answer never comes: the writer must find out what happened.
    setup.proxy.inject({match: (r) => n % 5 === 0 && write(r), status: 'lose-answer', times: 15}),
  ];
  const {run, completed} = await startRunner(t, setup);
  await untilThrough(run, completed, ids);
  t.true(faults.every((f) => f.hits > 0), `faults met: ${faults.map((f) => f.hits).join(', ')}`);
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('a filtered feed that returns no rows still moves the saved position on, from each answer\'s last_seq', async (t) => {
  const setup = await throughProxy(t);
  const {ws, store} = setup;
  // Only the last step listens: nothing registered now reaches its stage, so its feed returns no rows.
  const run = new Runner({
    store, steps: await loadSteps(ws.config.steps.filter((s) => s.name === 'ingest_detections')), log: memoryLogger().log, heartbeatMs: 0,
    pollMs: ws.config.listen.pollMs, leaseMs: ws.config.listen.leaseMs,
  });
  const done = run.run();
  t.teardown(() => run.stop(1000));
  await registerNew(setup, setup.direct, 5, 0);
  const head = (await store.info()).updateSeq;
  t.true(setup.proxy.isOpaqueSeq(head));
  // The step's listener asks for its filtered changes after the head once it has read up to it.
  while (true) {
    const [request] = (await once(setup.proxy.events, 'request')) as [{path: string; query: URLSearchParams}];
    if (request.path.endsWith('_changes') && request.query.has('filter') && request.query.get('since') === head) break;
  }
  await run.stop();
  await done;
  const saved = await setup.direct.getLocal(`edw-feed-ingest_detections-${(await import('node:os')).hostname()}`);
  t.is(saved?.seq, head);
});

// What a CouchDB cluster answers while nodes are down or restarting (issue 14): passing conditions.

/** chttpd's answer to a request whose shard copies are all down: 412 with error `nodedown`. */
const NODEDOWN = {error: 'nodedown', reason: 'progress not possible'};

test('a feed answered `progress not possible` (412 nodedown) waits and goes on: nothing exits, every step completes once', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.direct, 4, 0);
  const {log, lines} = memoryLogger();
  const feed = setup.proxy.inject({match: (r) => r.path.endsWith('/_changes'), status: 412, body: NODEDOWN, times: 6});
  const view = setup.proxy.inject({match: (r) => r.path.includes('/_view/'), status: 412, body: {error: 'read_quorum_not_met', reason: 'Read quorum could not be met'}, times: 2});
  const running = await startRunner(t, setup, log);
  await throughOrStopped(running, ids);
  t.is(feed.hits, 6, 'every injected answer was met');
  t.is(view.hits, 2);
  t.false(lines.some((l) => /stopped by an error|not handled/.test(l)), lines.filter((l) => /error/.test(l)).join('\n'));
  assertStartedOnceEach(t, running, ids.length, 'a passing answer is not a second start');
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('writes answered 202 Accepted (below a cluster\'s quorum) are successes: every step completes once, none is tried again', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.direct, 4, 0);
  const isDataWrite = (r: SeenRequest): boolean => (r.method === 'POST' && r.path.endsWith('/_bulk_docs')) || (r.method === 'PUT' && !r.path.includes('/_local/') && !r.path.includes('/_design/'));
  const accepted = setup.proxy.inject({match: isDataWrite, status: 'accepted'});
  const running = await startRunner(t, setup);
  await throughOrStopped(running, ids);
  // Claims and results of 4 documents through 3 steps: many writes, each answered 202.
  t.true(accepted.hits >= ids.length * 3, `writes answered 202: ${accepted.hits}`);
  assertStartedOnceEach(t, running, ids.length, 'a 202 is not a failed write');
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('edw listen started while its database is down waits, then works once it is back, through `nodedown` answers to its first reads', async (t) => {
  const setup = await throughProxy(t);
  setup.proxy.down();
  const listener = spawnEdw(['--config', setup.ws.configPath, 'listen', '--verbose']);
  t.teardown(() => listener.child.kill('SIGKILL'));
  await listener.waitFor(/database unreachable, retrying/);
  const ids = await registerNew(setup, setup.direct, 2, 0);
  // Back, but the cluster cannot answer for its design document yet.
  const design = setup.proxy.inject({match: (r) => r.path.endsWith('/_design/edw'), status: 412, body: NODEDOWN, times: 3});
  setup.proxy.up();
  await Promise.race([waitForAll(listener, ids), listener.exit.then((exit) => Promise.reject(new Error(`edw listen exited by itself (${exit.code}):\n${listener.stderr.join('\n')}`)))]);
  listener.child.kill('SIGTERM');
  t.deepEqual(await listener.exit, {code: 0, signal: null}, listener.stderr.join('\n'));
  t.is(design.hits, 3);
  t.is(listener.stderr.filter((l) => /database unreachable/.test(l)).length, 1, listener.stderr.join('\n'));
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

/** Resolves once every one of `ids` went through the chain; fails at once if the runner stops by itself. */
async function throughOrStopped(running: Running, ids: string[]): Promise<void> {
  const stopped = running.done.then(() => Promise.reject(new Error('the runner stopped by itself')));
  await Promise.race([untilThrough(running.run, running.completed, ids), stopped]);
}

/** Resolves once the listener logged `step done` of the last step for every one of `ids`. */
async function waitForAll(listener: EdwProcess, ids: string[]): Promise<void> {
  const escape = (text: string): string => text.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
  for (const id of ids) await listener.waitFor(new RegExp(`^(?=.*step done)(?=.*step=ingest_detections)(?=.*${escape(id)})`));
}

test('the feed asks CouchDB with a selector (evaluated natively) and other servers with the edw/stages filter; the chain completes either way', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.direct, 3, 0);
  const feeds: Array<{method: string; filter: string | null; body: unknown}> = [];
  setup.proxy.events.on('request', (r: SeenRequest) => {
    if (r.path.endsWith('/_changes') && r.query.get('filter')) feeds.push({method: r.method, filter: r.query.get('filter'), body: r.body});
  });
  const running = await startRunner(t, setup);
  await throughOrStopped(running, ids);
  const couchdb = (await setup.store.info()).reductionsStored;
  t.true(feeds.length > 0);
  for (const feed of feeds) {
    if (couchdb) t.like(feed, {method: 'POST', filter: '_selector', body: {selector: {status: 'good'}}});
    else t.like(feed, {method: 'GET', filter: 'edw/stages'});
  }
  assertOnceEach(t, await allDataDocs(setup.direct, ids));
});

test('the feed position is saved at most every feedSaveMs, and once more at a stop', async (t) => {
  const setup = await throughProxy(t);
  const ids = await registerNew(setup, setup.direct, 4, 0);
  let saves = 0;
  setup.proxy.events.on('request', (r: SeenRequest) => {
    if (r.method === 'PUT' && r.path.includes('/_local/edw-feed-')) saves++;
  });
  // An hour between saves: none while it runs (each page used to be one), the stop's own.
  const running = await startRunner(t, setup, undefined, {feedSaveMs: 3_600_000});
  await throughOrStopped(running, ids);
  const during = saves;
  await running.run.stop();
  t.true(during <= 1, `saves while running: ${during}`);
  t.is(saves, during + 1, 'the stop saves the last position handled');
  const saved = await setup.direct.getLocal(`edw-feed-move_to_sps+signal_processing+ingest_detections-${(await import('node:os')).hostname()}`);
  t.truthy(saved?.seq);
});

test('through the proxy (opaque seqs), a conflict on a document at the final stage is merged by the conflict keeper without any step running', async (t) => {
  const setup = await throughProxy(t);
  const [id] = await registerNew(setup, setup.direct, 1, 0);
  const first = await startRunner(t, setup);
  await throughOrStopped(first, [id!]);
  await first.run.stop();
  const done = (await setup.direct.get(id!)) as DataFileDoc;
  // A copy at the final stage with two histories, written straight to the server (replicated
  // revisions, before the design document as pouchdb-server needs): the losing one also ran the last
  // step once more, on another host.
  const {_rev, ...base} = done;
  const last = done.process[done.process.length - 1]!;
  const again = {...last, host: 'other-node', started: new Date(Date.now() + 1000).toISOString(), finished: new Date(Date.now() + 2000).toISOString()};
  const design = (await setup.direct.get('_design/edw'))!;
  await setup.direct.bulkWrite([{_id: design._id, _rev: design._rev, _deleted: true}]);
  await writeConflict(setup.direct, {...base, _id: `${id}-x`, process: []} as DataFileDoc, done.process, [...done.process, again]);
  await pushDesignDocs(setup.direct, await compileDesignDocs(DESIGN_DOCS_DIR));

  const second = await startRunner(t, setup, undefined, {conflictsMs: 200});
  await new Promise<void>((resolve) => second.run.on('conflicts-merged', (e: {id: string}) => e.id === `${id}-x` && resolve()));
  await second.run.stop();
  const after = (await setup.direct.get(`${id}-x`, {conflicts: true})) as DataFileDoc;
  t.is(after._conflicts, undefined);
  t.is(after.process.length, done.process.length + 1, 'the losing branch\'s re-execution is in the history');
  t.is(after.process.filter((e) => e.superseded).length, 1, 'one of the two completions of the last step is superseded');
  t.is(stageOf(after), 'ingest_detections');
  t.deepEqual(second.started, [], 'no step ran');
  const saved = await setup.direct.getLocal('edw-conflicts');
  t.true(setup.proxy.isOpaqueSeq(saved?.seq), `the keeper saved the proxy's opaque position: ${JSON.stringify(saved?.seq)}`);
});
