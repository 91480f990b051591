/**
 * The listener process of the chain-throughput figure: it opens the database named in
 * EDW_BENCH_CHAIN (JSON of ChainChildSpec), runs the no-op chain with edw's Runner until every
 * document has completed the last step (or the deadline passes), and prints one JSON line
 * (ChainChildReport) on stdout. In a process of its own, so its peak RSS is the listener's alone.
 * EDW_BENCH_DEBUG=1 sends the runtime's debug log to stderr. EDW_BENCH_HEAP_SNAPSHOTS=DIR writes a V8 heap
 * snapshot into DIR at the first and the last tenth of documents (for finding what the listener keeps).
 * EDW_BENCH_COUNTS_MS=N sets the Runner's countsMs (0: no stage counts kept; to measure what keeping them costs).
 */
import {join} from 'node:path';
import {writeHeapSnapshot} from 'node:v8';
import {DESIGN} from '../../lib/design/index.js';
import {createLogger, silentLogger} from '../../lib/log/index.js';
import {Runner, type StepEvent} from '../../lib/runtime/index.js';
import {openStore} from '../../lib/store/index.js';
import {CountingStore, type CallCount} from './counting-store.js';
import {NOOP_STEPS, noopChain} from './noop-chain.js';
import {now} from './stats.js';

export interface ChainChildSpec {
  /** Database URL (folder or server URL with credentials). */
  url: string;
  /** Documents registered, all at stage `new`. */
  docs: number;
  concurrency: number;
  /** Give up (and report what was done) after this long, in ms. */
  deadlineMs: number;
}

export interface ChainChildReport {
  docs: number;
  /** The first query of the stage view, before the clock starts: indexing every registered document. */
  viewBuildMs: number;
  /** Whether every document completed the last step before the deadline. */
  complete: boolean;
  stepCompletions: number;
  failed: number;
  /** From runner.run() to the last document's last step. */
  elapsedMs: number;
  /** Milliseconds since the start at which each document completed its last step, in completion order. */
  docTimesMs: number[];
  /** Milliseconds at which each tenth of all step completions was reached. */
  stepDecilesMs: number[];
  counts: Record<string, CallCount>;
  /** RSS (MB) right before the run, and at each tenth of documents completed (after a full GC). */
  rssStartMb: number;
  rssAtDecilesMb: number[];
  heapAtDecilesMb: number[];
  /** process.resourceUsage().maxRSS of this process, in MB. */
  peakRssMb: number;
  /** CPU seconds (user + system) of this process during the run. */
  cpuSeconds: number;
}

const mb = (bytes: number): number => Math.round((bytes / 2 ** 20) * 10) / 10;

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.EDW_BENCH_CHAIN ?? '') as ChainChildSpec;
  const inner = await openStore({url: spec.url});
  // Built here rather than by the parent: PouchStore.close() leaves the view's index open (and its
  // LevelDB folder locked), so a parent that queried the view would make this process's queries fail.
  const viewStart = now();
  await inner.query({design: DESIGN, view: 'stage', reduce: false, limit: 1});
  const viewBuildMs = now() - viewStart;
  const store = new CountingStore(inner);
  const runner = new Runner({store, steps: noopChain({concurrency: spec.concurrency}), countsMs: process.env.EDW_BENCH_COUNTS_MS ? Number(process.env.EDW_BENCH_COUNTS_MS) : undefined, log: process.env.EDW_BENCH_DEBUG ? createLogger({level: 'debug'}) : silentLogger()});
  const last = NOOP_STEPS[NOOP_STEPS.length - 1];
  const totalSteps = spec.docs * NOOP_STEPS.length;
  const docTimes: number[] = [];
  const stepDeciles: number[] = [];
  const rss: number[] = [];
  const heap: number[] = [];
  let steps = 0;
  let failed = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const deadline = setTimeout(() => finish(), spec.deadlineMs);
  global.gc?.();
  const rssStart = process.memoryUsage().rss;
  const cpuStart = process.cpuUsage();
  const start = now();
  for (const listener of runner.stepListeners) {
    listener.on('completed', (event: StepEvent) => {
      const t = now() - start;
      steps++;
      if (steps % Math.max(1, Math.floor(totalSteps / 10)) === 0) stepDeciles.push(t);
      if (event.step !== last) return;
      docTimes.push(t);
      if (docTimes.length % Math.max(1, Math.floor(spec.docs / 10)) === 0) {
        // After a full collection: what the listener keeps, not how lazily V8 collects (a few ms each).
        global.gc?.();
        const usage = process.memoryUsage();
        rss.push(mb(usage.rss));
        heap.push(mb(usage.heapUsed));
        const snapshots = process.env.EDW_BENCH_HEAP_SNAPSHOTS;
        if (snapshots && (heap.length === 1 || heap.length === 10)) writeHeapSnapshot(join(snapshots, `chain-tenth-${heap.length}.heapsnapshot`));
      }
      if (docTimes.length >= spec.docs) finish();
    });
    listener.on('failed', () => failed++);
  }
  const running = runner.run();
  running.catch(() => finish());
  await finished;
  clearTimeout(deadline);
  const elapsedMs = docTimes.length > 0 ? docTimes[docTimes.length - 1]! : now() - start;
  const cpu = process.cpuUsage(cpuStart);
  const counts = store.snapshot();
  await runner.stop();
  await running.catch((error: unknown) => {
    process.stderr.write(`chain: the runner stopped with an error: ${(error as Error).message}\n`);
  });
  await store.close();
  const report: ChainChildReport = {
    docs: spec.docs, viewBuildMs, complete: docTimes.length >= spec.docs, stepCompletions: steps, failed, elapsedMs,
    docTimesMs: docTimes.map((t) => Math.round(t * 10) / 10), stepDecilesMs: stepDeciles, counts,
    rssStartMb: mb(rssStart), rssAtDecilesMb: rss, heapAtDecilesMb: heap,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10, cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(report)}\n`, () => resolve()));
}

// Exit once the report is out, as lib/cli/bin does: an abandoned long-poll to pouchdb-server (which
// holds idle long-polls open) otherwise keeps the process alive for minutes after the store is closed.
main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`chain: ${(error as Error).stack ?? String(error)}\n`, () => process.exit(1));
});
