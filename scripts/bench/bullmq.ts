/**
 * BullMQ's figures beside edw's (issue 15): the same three-step no-op chain over the same number of
 * documents at the same concurrency, and the same latency trickle, on a redis-server that the bench
 * starts from the machine's packages. Skipped, with a note, when redis-server is not installed.
 */
import {Queue} from 'bullmq';
import {packageVersion, processCpuSeconds} from './backends.js';
import {startBullChain} from './bullmq-chain.js';
import type {BullChildReport, BullChildSpec} from './bullmq-child.js';
import {runJsonChild} from './child.js';
import {NOOP_STEPS} from './noop-chain.js';
import {paced, percentile, perSecond} from './stats.js';
import {redisServerVersion, startRedisServer} from '../support/redis-server.js';

export interface BullFigures {
  /** What answered, with its version. */
  server: string;
  bullmq: string;
  chain_steps_per_s: number;
  chain_seconds: number;
  chain_complete: boolean;
  latency_ms_p50: number;
  latency_ms_p99: number;
  latency_ms_max: number;
  latency_files: number;
  /** Workers' process: peak RSS and CPU seconds over the chain. */
  peak_rss_mb: number;
  worker_cpu_seconds: number;
  server_cpu_seconds: number | null;
  /** CPU milliseconds per step completion: the workers', Redis's. */
  worker_cpu_ms_per_step: number;
  server_cpu_ms_per_step: number | null;
}

export interface BullOptions {
  docs: number;
  concurrency: number;
  deadlineMs: number;
  /** Jobs added per second in the latency trickle, and for how long. @default 20 for 30 s, as edw's */
  filesPerSecond?: number;
  seconds?: number;
}

/** Why BullMQ cannot be measured here, or undefined when it can. */
export function bullmqMissing(): string | undefined {
  return redisServerVersion() ? undefined : 'redis-server is not on this machine (apt-get install redis-server): BullMQ not measured';
}

export async function measureBullmq(options: BullOptions, note: (line: string) => void): Promise<BullFigures> {
  const redis = await startRedisServer();
  try {
    const connection = {host: redis.host, port: redis.port};
    const prefix = `edw-bench-${process.pid}`;
    note(`adding ${options.docs} jobs to the first queue`);
    const first = new Queue(`${prefix}-${NOOP_STEPS[0]}`, {connection});
    try {
      for (let from = 0; from < options.docs; from += 1000) {
        const batch = Array.from({length: Math.min(1000, options.docs - from)}, (_, k) => ({name: NOOP_STEPS[0], data: {doc: `bench-${from + k}`}}));
        await first.addBulk(batch);
      }
    } finally {
      await first.close();
    }
    note(`chain of three no-op steps over ${options.docs} jobs (workers in a child process)`);
    const cpuBefore = await processCpuSeconds(redis.pid);
    const spec: BullChildSpec = {...connection, prefix, docs: options.docs, concurrency: options.concurrency, deadlineMs: options.deadlineMs};
    const report = await runJsonChild<BullChildReport>('bullmq-child', 'EDW_BENCH_BULL', spec, "BullMQ's worker process");
    const cpuAfter = await processCpuSeconds(redis.pid);
    const serverCpu = cpuBefore !== undefined && cpuAfter !== undefined ? cpuAfter - cpuBefore : null;
    note(`chain: ${Math.round(perSecond(report.stepCompletions, report.elapsedMs))} steps/s; latency under a trickle`);
    const latencies = await trickle(connection, `${prefix}-trickle`, options);
    return {
      server: redis.description, bullmq: `BullMQ ${packageVersion('bullmq')}`,
      chain_steps_per_s: perSecond(report.stepCompletions, report.elapsedMs), chain_seconds: report.elapsedMs / 1000,
      chain_complete: report.complete,
      latency_ms_p50: percentile(latencies, 50), latency_ms_p99: percentile(latencies, 99), latency_ms_max: percentile(latencies, 100),
      latency_files: latencies.length,
      peak_rss_mb: report.peakRssMb, worker_cpu_seconds: report.cpuSeconds,
      server_cpu_seconds: serverCpu,
      worker_cpu_ms_per_step: (report.cpuSeconds * 1000) / report.stepCompletions,
      server_cpu_ms_per_step: serverCpu === null ? null : (serverCpu * 1000) / report.stepCompletions,
    };
  } finally {
    await redis.stop();
  }
}

/** Add → first step's start, in ms, for each job of a steady trickle (after one warm-up job). */
async function trickle(connection: {host: string; port: number}, prefix: string, options: BullOptions): Promise<number[]> {
  const rate = options.filesPerSecond ?? 20;
  const count = Math.round(rate * (options.seconds ?? 30));
  const latencies = new Map<string, number>();
  let wanted = 1;
  let reached!: () => void;
  let done = new Promise<void>((resolve) => {
    reached = resolve;
  });
  const chain = startBullChain({
    ...connection, prefix, concurrency: options.concurrency,
    onRun: (step, job) => {
      if (step !== NOOP_STEPS[0] || latencies.has(job.id!)) return;
      latencies.set(job.id!, Date.now() - job.timestamp);
      if (latencies.size >= wanted) reached();
    },
  });
  const within = (ms: number, what: string): Promise<void> => Promise.race([done, new Promise<void>((_, reject) => setTimeout(() => reject(new Error(what)), ms).unref())]);
  try {
    await chain.first.add(NOOP_STEPS[0], {doc: 'warm-up'});
    await within(60_000, 'the warm-up job was not started within 60 s');
    latencies.clear();
    wanted = count;
    done = new Promise<void>((resolve) => {
      reached = resolve;
    });
    await paced(count, rate, (i) => chain.first.add(NOOP_STEPS[0], {doc: `trickle-${i}`}));
    await within(30_000, `only ${latencies.size} of ${count} trickled jobs started within 30 s`);
  } finally {
    await chain.close();
  }
  return [...latencies.values()];
}
