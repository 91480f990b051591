/**
 * Latency from registration to the first step's start under a steady trickle: a Runner with the
 * three no-op steps runs in this process (so the figure is measured in-process), files are
 * registered one by one through lib/register at a fixed rate, and each document's first step
 * notes when its run() begins. Registration time is the document's `datecreated`, which
 * lib/register sets right before it reads and writes the database (after hashing the file).
 */
import {silentLogger} from '../../lib/log/index.js';
import {registerFiles} from '../../lib/register/index.js';
import {Runner} from '../../lib/runtime/index.js';
import type {Store} from '../../lib/store/index.js';
import {writeSmallFiles} from './documents.js';
import {NOOP_STEPS, noopChain} from './noop-chain.js';
import {now, paced, percentile} from './stats.js';

export interface LatencyOptions {
  /** Files registered per second. @default 20 */
  filesPerSecond?: number;
  /** How long the trickle lasts, in seconds. @default 30 */
  seconds?: number;
  concurrency?: number;
  /** Folder to write the files into. */
  dir: string;
}

export interface LatencyFigures {
  latency_ms_p50: number;
  latency_ms_p99: number;
  latency_ms_max: number;
  latency_files: number;
  /** Documents whose first step had not started 30 s after the last registration. */
  latency_missed: number;
}

export async function measureLatency(store: Store, options: LatencyOptions): Promise<LatencyFigures> {
  const rate = options.filesPerSecond ?? 20;
  const count = Math.round(rate * (options.seconds ?? 30));
  const first = NOOP_STEPS[0];
  const [warmup, ...files] = await writeSmallFiles(options.dir, count + 1, {prefix: 'trickle'});
  const latencies = new Map<string, number>();
  let wake: () => void = () => {};
  const runner = new Runner({
    store, log: silentLogger(),
    steps: noopChain({
      concurrency: options.concurrency,
      onRun: (step, doc) => {
        if (step !== first || latencies.has(doc._id)) return;
        latencies.set(doc._id, Date.now() - (doc.datecreated ?? 0) * 1000);
        wake();
      },
    }),
  });
  const waitFor = async (n: number, timeoutMs: number): Promise<void> => {
    const end = now() + timeoutMs;
    while (latencies.size < n && now() < end) {
      await new Promise<void>((resolve) => {
        wake = resolve;
        setTimeout(resolve, 100);
      });
    }
  };
  const running = runner.run();
  try {
    // One document through first, so the listeners are past their start-up sweep and following the feed.
    await registerFiles({store, paths: [warmup!], settleMs: 0});
    await waitFor(1, 60_000);
    if (latencies.size < 1) throw new Error('the warm-up document was not started within 60 s');
    latencies.clear();
    // One registration per file, on a fixed schedule: a slow registration does not slow the trickle down.
    await paced(files.length, rate, (i) => registerFiles({store, paths: [files[i]!], settleMs: 0}));
    await waitFor(files.length, 30_000);
  } finally {
    await runner.stop();
    await running.catch(() => {});
  }
  const values = [...latencies.values()];
  return {
    latency_ms_p50: percentile(values, 50), latency_ms_p99: percentile(values, 99), latency_ms_max: percentile(values, 100),
    latency_files: files.length, latency_missed: files.length - values.length,
  };
}
