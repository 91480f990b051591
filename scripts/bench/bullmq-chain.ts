/**
 * What a user would pick instead of edw: BullMQ on Redis, running the same three-step no-op chain.
 * Three queues, one worker each at the chain's concurrency; a job's processor adds the job to the next
 * step's queue before it returns (at least once, as edw's hand-off), so a document is a job that
 * passes through all three. Jobs are kept once completed (BullMQ's default), as edw keeps each
 * step's entry in its document. Used by the chain's child process and by the latency trickle.
 */
import {Queue, Worker, type Job} from 'bullmq';
import {NOOP_STEPS} from './noop-chain.js';

export interface BullChainOptions {
  host: string;
  port: number;
  /** Prefix of the three queues' names: one per measurement, so runs do not see each other's jobs. */
  prefix: string;
  /** Jobs each worker runs at once. */
  concurrency: number;
  /** Called as each step's processor begins (the latency trickle times the first step). */
  onRun?: (step: string, job: Job) => void;
  /** Called as each step's job completes. */
  onCompleted?: (step: string, job: Job) => void;
}

export interface BullChain {
  /** The first step's queue: where documents are added. */
  readonly first: Queue;
  /** Close the workers (waiting for running jobs) and the queues. */
  close(): Promise<void>;
}

export function queueName(prefix: string, step: string): string {
  return `${prefix}-${step}`;
}

export function startBullChain(options: BullChainOptions): BullChain {
  const connection = {host: options.host, port: options.port};
  const queues = NOOP_STEPS.map((step) => new Queue(queueName(options.prefix, step), {connection}));
  const workers = NOOP_STEPS.map((step, i) => {
    const next = queues[i + 1];
    const worker = new Worker(queueName(options.prefix, step), async (job: Job) => {
      options.onRun?.(step, job);
      if (next) await next.add(NOOP_STEPS[i + 1]!, job.data as object);
      return {};
    }, {connection: {...connection, maxRetriesPerRequest: null}, concurrency: options.concurrency});
    worker.on('completed', (job) => options.onCompleted?.(step, job));
    return worker;
  });
  return {
    first: queues[0]!,
    async close() {
      await Promise.all(workers.map((w) => w.close()));
      await Promise.all(queues.map((q) => q.close()));
    },
  };
}
