/**
 * End-to-end throughput of the three-step no-op chain, claims on: the documents are registered
 * beforehand (all at stage `new`, the stage view built), then a listener process (chain-child) runs
 * edw's Runner over them until every document has completed the last step.
 */
import {processCpuSeconds, processRssMb} from './backends.js';
import type {ChainChildReport, ChainChildSpec} from './chain-child.js';
import {runJsonChild} from './child.js';
import type {CallCount} from './counting-store.js';
import {NOOP_STEPS} from './noop-chain.js';
import {perSecond} from './stats.js';

export interface ChainFigures {
  chain_steps_per_s: number;
  /** First query of the stage view after registration (in the listener process, before the clock starts). */
  view_build_ms: number;
  /** Documents through all three steps per second. */
  chain_docs_per_s: number;
  chain_seconds: number;
  chain_complete: boolean;
  /** Documents/s over the first 10% of documents completed after the first second, and over the last 10%. */
  first_10pct_docs_per_s: number | null;
  last_10pct_docs_per_s: number | null;
  last_vs_first_10pct: number | null;
  /** Step completions/s in each tenth of the run's step completions. */
  steps_per_s_by_tenth: number[];
  peak_rss_mb: number;
  rss_start_mb: number;
  rss_by_tenth_mb: number[];
  heap_by_tenth_mb: number[];
  listener_cpu_seconds: number;
  /** CPU seconds of the server process during the run (only when the bench started it). */
  server_cpu_seconds: number | null;
  /**
   * Resident memory of the server process before and after the run, in MB (only when the bench
   * started it): what the chain leaves in the server (see serverBackend on abandoned long-polls).
   */
  server_rss_mb_before: number | null;
  server_rss_mb_after: number | null;
  /** Store calls per step completion, by kind: calls, and summed milliseconds per completion. */
  calls_per_step: Record<string, {calls: number; items: number; ms: number}>;
  concurrency: number;
}

/** (n − 1) intervals over the span from the first to the last of `times`: documents per second. */
function spanRate(times: number[]): number | null {
  if (times.length < 2) return null;
  const span = times[times.length - 1]! - times[0]!;
  return span > 0 ? perSecond(times.length - 1, span) : null;
}

/** The first 10% of documents completed after the first second, and the last 10%, as the issue defines them. */
export function firstAndLastTenth(docTimesMs: number[], docs: number): {first: number | null; last: number | null} {
  const tenth = Math.ceil(docs / 10);
  const k0 = docTimesMs.findIndex((t) => t >= 1000);
  const first = k0 >= 0 && k0 + tenth <= docTimesMs.length ? spanRate(docTimesMs.slice(k0, k0 + tenth)) : null;
  const last = docTimesMs.length >= docs && tenth <= docTimesMs.length ? spanRate(docTimesMs.slice(-tenth)) : null;
  return {first, last};
}

/** Run the chain in a child process over `docs` documents at stage `new` in the (closed) database at `url`. */
export async function measureChain(options: {url: string; docs: number; concurrency: number; deadlineMs: number; serverPid?: number}): Promise<ChainFigures> {
  const spec: ChainChildSpec = {url: options.url, docs: options.docs, concurrency: options.concurrency, deadlineMs: options.deadlineMs};
  const serverCpuBefore = await processCpuSeconds(options.serverPid);
  const serverRssBefore = await processRssMb(options.serverPid);
  const report = await runJsonChild<ChainChildReport>('chain-child', 'EDW_BENCH_CHAIN', spec, "the chain's listener process");
  const serverCpuAfter = await processCpuSeconds(options.serverPid);
  const serverRssAfter = await processRssMb(options.serverPid);
  const {first, last} = firstAndLastTenth(report.docTimesMs, report.docs);
  const perStep = (count: CallCount): {calls: number; items: number; ms: number} => ({
    calls: count.calls / Math.max(1, report.stepCompletions),
    items: count.items / Math.max(1, report.stepCompletions),
    ms: count.ms / Math.max(1, report.stepCompletions),
  });
  const tenthSize = (report.docs * NOOP_STEPS.length) / 10;
  return {
    chain_steps_per_s: perSecond(report.stepCompletions, report.elapsedMs),
    view_build_ms: report.viewBuildMs,
    chain_docs_per_s: perSecond(report.docTimesMs.length, report.elapsedMs),
    chain_seconds: report.elapsedMs / 1000,
    chain_complete: report.complete,
    first_10pct_docs_per_s: first,
    last_10pct_docs_per_s: last,
    last_vs_first_10pct: first && last ? last / first : null,
    steps_per_s_by_tenth: report.stepDecilesMs.map((t, i) => perSecond(tenthSize, t - (i === 0 ? 0 : report.stepDecilesMs[i - 1]!))),
    peak_rss_mb: report.peakRssMb,
    rss_start_mb: report.rssStartMb,
    rss_by_tenth_mb: report.rssAtDecilesMb,
    heap_by_tenth_mb: report.heapAtDecilesMb,
    listener_cpu_seconds: report.cpuSeconds,
    server_cpu_seconds: serverCpuBefore !== undefined && serverCpuAfter !== undefined ? serverCpuAfter - serverCpuBefore : null,
    server_rss_mb_before: serverRssBefore ?? null,
    server_rss_mb_after: serverRssAfter ?? null,
    calls_per_step: Object.fromEntries(Object.entries(report.counts).map(([kind, count]) => [kind, perStep(count)])),
    concurrency: options.concurrency,
  };
}
