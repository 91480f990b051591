/**
 * The worker process of BullMQ's chain figure (the counterpart of chain-child): the parent has added
 * `docs` jobs to the first queue; this process starts the three workers (bullmq-chain), runs until the
 * last step has completed every job (or the deadline passes) and prints one JSON line
 * (BullChildReport). In a process of its own, so its peak RSS is the workers' alone.
 */
import {startBullChain} from './bullmq-chain.js';
import {NOOP_STEPS} from './noop-chain.js';
import {now} from './stats.js';

export interface BullChildSpec {
  host: string;
  port: number;
  prefix: string;
  docs: number;
  concurrency: number;
  deadlineMs: number;
}

export interface BullChildReport {
  complete: boolean;
  stepCompletions: number;
  /** From the workers' start to the last step's last completion. */
  elapsedMs: number;
  peakRssMb: number;
  cpuSeconds: number;
}

async function main(): Promise<void> {
  const spec = JSON.parse(process.env.EDW_BENCH_BULL ?? '') as BullChildSpec;
  const last = NOOP_STEPS[NOOP_STEPS.length - 1];
  let steps = 0;
  let lastDone = 0;
  let elapsedMs = 0;
  let finish!: () => void;
  const finished = new Promise<void>((resolve) => {
    finish = resolve;
  });
  const deadline = setTimeout(() => finish(), spec.deadlineMs);
  const cpuStart = process.cpuUsage();
  const start = now();
  const chain = startBullChain({
    host: spec.host, port: spec.port, prefix: spec.prefix, concurrency: spec.concurrency,
    onCompleted: (step) => {
      steps++;
      if (step !== last) return;
      elapsedMs = now() - start;
      if (++lastDone >= spec.docs) finish();
    },
  });
  await finished;
  clearTimeout(deadline);
  const cpu = process.cpuUsage(cpuStart);
  await chain.close();
  const report: BullChildReport = {
    complete: lastDone >= spec.docs, stepCompletions: steps, elapsedMs: elapsedMs || now() - start,
    peakRssMb: Math.round(process.resourceUsage().maxRSS / 102.4) / 10, cpuSeconds: (cpu.user + cpu.system) / 1e6,
  };
  await new Promise<void>((resolve) => process.stdout.write(`${JSON.stringify(report)}\n`, () => resolve()));
}

main().then(() => process.exit(0), (error: unknown) => {
  process.stderr.write(`bullmq chain: ${(error as Error).stack ?? String(error)}\n`, () => process.exit(1));
});
