/**
 * The process's one lease keeper, on both backends: the claims of every step running in the process
 * are renewed together, in one write request per round, whenever each was taken (issue 15).
 */
import {EventEmitter, once} from 'node:events';
import {join} from 'node:path';
import {setTimeout as delay} from 'node:timers/promises';
import test from 'ava';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {silentLogger} from '../lib/log/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {Runner, type ChainStep, type StepEvent} from '../lib/runtime/index.js';
import type {Doc} from '../lib/store/index.js';
import {forEachBackend, tempFolder} from './helpers/backends.js';
import {simulateAndRegister} from './helpers/chain.js';

forEachBackend((backend) => {
  test(`${backend.name}: claims taken at different times are renewed together, in one write request`, async (t) => {
    const store = await backend.open(t);
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const ids = await simulateAndRegister(store, join(await tempFolder(t), 'raw'), 2, 1);
    // Every write request, as the ids of the documents it carries with a claim and no entry yet.
    const requests: string[][] = [];
    const written = new EventEmitter();
    const claimed = (docs: Doc[]): string[] => docs.filter((d) => (d as DataFileDoc).edw?.claim && (d as DataFileDoc).process?.length === 1).map((d) => d._id);
    const record = (docs: Doc[]): void => {
      requests.push(claimed(docs));
      written.emit('request');
    };
    const put = store.put.bind(store);
    store.put = (doc, signal) => {
      record([doc]);
      return put(doc, signal);
    };
    const bulkWrite = store.bulkWrite.bind(store);
    store.bulkWrite = (docs, signal) => {
      record(docs);
      return bulkWrite(docs, signal);
    };
    const leaseMs = 1500;
    let open!: () => void;
    const gate = new Promise<void>((resolve) => (open = resolve));
    let first = true;
    // Step a, one at a time: the second document's hand-over to `hold` (its claim) comes a sixth of the
    // lease after the first's, so that a timer per claim would renew them in separate requests.
    const a: ChainStep = {name: 'a', after: 'new', version: '1', concurrency: 1, attempts: 1, timeoutMs: 60_000, settings: {}, run: async () => {
      if (!first) await delay(leaseMs / 6);
      first = false;
      return {};
    }};
    const hold: ChainStep = {name: 'hold', after: 'a', version: '1', concurrency: 2, attempts: 1, timeoutMs: 60_000, settings: {}, run: async () => {
      await gate;
      return {};
    }};
    const run = new Runner({store, steps: [a, hold], log: silentLogger(), owner: 'keeper', leaseMs, pollMs: 1000, heartbeatMs: 0, countsMs: 0});
    const started: StepEvent[] = [];
    run.stepListeners[1]!.on('started', (e: StepEvent) => started.push(e));
    const done = run.run();
    t.teardown(async () => {
      open();
      await run.stop(1000);
      await done.catch(() => undefined);
    });
    while (started.length < 2) await once(run.stepListeners[1]!, 'started');
    const from = requests.length;
    // Renewals: every write of both documents from here on is one (their steps wait at the gate).
    const together = (): boolean => requests.slice(from).some((r) => ids.every((id) => r.includes(id)));
    const renewalsOf = (id: string): number => requests.slice(from).filter((r) => r.includes(id)).length;
    while (!together() && renewalsOf(ids[0]!) < 6) await once(written, 'request');
    const rounds = requests.slice(from).filter((r) => r.length > 0).map((r) => r.join(' ')).join(' | ');
    t.true(together(), `renewal requests: ${rounds}`);
    open();
    const completed: StepEvent[] = [];
    run.stepListeners[1]!.on('completed', (e: StepEvent) => completed.push(e));
    while (completed.length < 2) await once(run.stepListeners[1]!, 'completed');
    for (const doc of (await store.getMany(ids)) as DataFileDoc[]) {
      t.deepEqual(doc.process.map((e) => [e.name, e.status]), [['a', 'done'], ['hold', 'done']]);
      t.is(doc.edw?.claim, undefined);
    }
  });
});
