/** The bench's output: results.json in the shape (with more keys), and the printed table. */
import {cpus, freemem, loadavg, totalmem, type as osType, release} from 'node:os';
import type {BackendName} from './backends.js';
import type {BullFigures} from './bullmq.js';
import type {BackendFigures} from './run-backend.js';
import {significant} from './stats.js';

export interface Machine {
  cores: number;
  memory_gb: number;
  node: string;
  cpu: string;
  os: string;
  /** 1-minute load average at the start of the run: other work on the machine skews every figure. */
  load_at_start: number;
  free_memory_gb_at_start: number;
}

export function describeMachine(): Machine {
  return {
    cores: cpus().length, memory_gb: Math.round(totalmem() / 2 ** 30), node: process.version,
    cpu: cpus()[0]?.model ?? 'unknown', os: `${osType()} ${release()}`,
    load_at_start: Math.round(loadavg()[0]! * 100) / 100, free_memory_gb_at_start: Math.round(freemem() / 2 ** 30),
  };
}

/** One backend as results.json holds it: `{database, figures, ratios, details}`. */
export interface BackendResult {
  database: string;
  /** null where the measurement failed (its line is in details.errors). */
  figures: {
    bulk_insert_docs_per_s: number | null;
    single_update_per_s_c1: number | null;
    single_update_per_s_c32: number | null;
    changes_per_s: number | null;
    register_docs_per_s: number | null;
    chain_steps_per_s: number | null;
    baseline_steps_per_s: number | null;
    latency_ms_p50: number | null;
    latency_ms_p99: number | null;
    status_ms: number | null;
    peak_rss_mb: number | null;
    [more: string]: number | null;
  };
  /** vs_bullmq: chain steps/s over BullMQ's, when BullMQ was measured in the same run. */
  /** server_cpu_update_over_step: the server's CPU per get+put (c32) over its CPU per chain step: the chain / c32 ratio a CPU-bound server allows. */
  ratios: {vs_single_update_32: number | null; vs_baseline: number | null; vs_bullmq?: number | null; server_cpu_update_over_step?: number | null};
  /** Everything else measured: per-tenth series, store calls per step, method sizes. */
  details: Record<string, unknown>;
}

/** Three significant digits; null for a figure that is missing (its measurement failed) or not a number. */
const round = (value: number | null | undefined): number | null => (value === null || value === undefined || !Number.isFinite(value) ? null : significant(value));

/** The listener's heap after a full GC at the first (0) or last (-1) tenth of the chain's documents. */
function tenth(r: BackendResult, at: 0 | -1): number | null {
  const series = r.details.heap_by_tenth_mb;
  return Array.isArray(series) && series.length > 0 ? (series.at(at) as number) : null;
}

const ratio = (a: number | undefined, b: number | undefined): number | null => (a === undefined || b === undefined ? null : round(a / b));

/** CPU milliseconds per step completion of the chain, from CPU seconds over the whole chain. */
const perStep = (cpuSeconds: number | null | undefined, f: BackendFigures): number | null =>
  cpuSeconds === null || cpuSeconds === undefined || !f.chain_steps_per_s || !f.chain_seconds ? null : round((cpuSeconds * 1000) / (f.chain_steps_per_s * f.chain_seconds));

export function backendResult(database: string, f: BackendFigures): BackendResult {
  return {
    database,
    figures: {
      bulk_insert_docs_per_s: round(f.bulk_insert_docs_per_s),
      single_update_per_s_c1: round(f.single_update_per_s_c1),
      single_update_per_s_c32: round(f.single_update_per_s_c32),
      changes_per_s: round(f.changes_per_s),
      register_docs_per_s: round(f.register_docs_per_s),
      register_docs_per_s_no_md5: round(f.register_docs_per_s_no_md5),
      single_update_per_s_c32_validated: round(f.single_update_per_s_c32_validated),
      chain_steps_per_s: round(f.chain_steps_per_s),
      baseline_steps_per_s: round(f.baseline_steps_per_s),
      latency_ms_p50: round(f.latency_ms_p50),
      latency_ms_p99: round(f.latency_ms_p99),
      status_ms: round(f.status_ms),
      peak_rss_mb: round(f.peak_rss_mb),
      status_cold_ms: round(f.status_cold_ms),
      view_build_ms: round(f.view_build_ms),
      first_10pct_docs_per_s: round(f.first_10pct_docs_per_s),
      last_10pct_docs_per_s: round(f.last_10pct_docs_per_s),
      last_vs_first_10pct: round(f.last_vs_first_10pct),
      latency_ms_max: round(f.latency_ms_max),
      server_cpu_ms_per_step: perStep(f.server_cpu_seconds, f),
      listener_cpu_ms_per_step: perStep(f.listener_cpu_seconds, f),
      server_cpu_ms_per_update_c32: round(f.server_cpu_ms_per_update_c32),
      server_cpu_ms_per_update_c32_validated: round(f.server_cpu_ms_per_update_c32_validated),
    },
    ratios: {
      vs_single_update_32: ratio(f.chain_steps_per_s, f.single_update_per_s_c32),
      vs_baseline: ratio(f.chain_steps_per_s, f.baseline_steps_per_s),
      server_cpu_update_over_step: ratio(f.server_cpu_ms_per_update_c32, perStep(f.server_cpu_seconds, f) ?? undefined),
    },
    details: {
      docs: f.docs, concurrency: f.concurrency, chain_seconds: round(f.chain_seconds), chain_complete: f.chain_complete,
      chain_docs_per_s: round(f.chain_docs_per_s), steps_per_s_by_tenth: f.steps_per_s_by_tenth?.map((v) => round(v)),
      rss_start_mb: f.rss_start_mb, rss_by_tenth_mb: f.rss_by_tenth_mb, heap_by_tenth_mb: f.heap_by_tenth_mb,
      listener_cpu_seconds: round(f.listener_cpu_seconds), server_cpu_seconds: round(f.server_cpu_seconds),
      server_rss_mb_before: round(f.server_rss_mb_before), server_rss_mb_after: round(f.server_rss_mb_after),
      calls_per_step: roundDeep(f.calls_per_step ?? {}), baseline_calls_per_step: roundDeep(f.baseline_calls_per_step ?? {}),
      baseline_docs: f.baseline_docs, baseline_seconds: round(f.baseline_seconds),
      latency_files: f.latency_files, latency_missed: f.latency_missed, status_docs: f.status_docs,
      limit_docs: f.limit_docs, changes_read: f.changes_read, errors: f.errors,
    },
  };
}

function roundDeep(value: Record<string, Record<string, number>>): Record<string, Record<string, number>> {
  return Object.fromEntries(Object.entries(value).map(([k, v]) => [k, Object.fromEntries(Object.entries(v).map(([kk, vv]) => [kk, significant(vv)]))]));
}

/** Rows of the printed table: figure, how to read it, and the target where it sets one. */
/** `bull`: BullMQ's figure of the same kind, where it has one. */
const ROWS: Array<{label: string; value: (r: BackendResult) => number | null | undefined; target?: string; bull?: (b: BullFigures) => number | null}> = [
  {label: 'bulk insert docs/s (batches of 1000)', value: (r) => r.figures.bulk_insert_docs_per_s},
  {label: 'single get+put updates/s, 1 in flight', value: (r) => r.figures.single_update_per_s_c1},
  {label: 'single get+put updates/s, 32 in flight', value: (r) => r.figures.single_update_per_s_c32},
  {label: "  same, with edw's validate_doc_update", value: (r) => r.figures.single_update_per_s_c32_validated},
  {label: 'changes read/s (from 0, pages of 1000)', value: (r) => r.figures.changes_per_s},
  {label: 'register docs/s (md5)', value: (r) => r.figures.register_docs_per_s},
  {label: 'register docs/s (no md5)', value: (r) => r.figures.register_docs_per_s_no_md5},
  {label: 'stage view build after registering, ms', value: (r) => r.figures.view_build_ms},
  {label: 'chain step completions/s', value: (r) => r.figures.chain_steps_per_s, target: '>= 3000 embedded', bull: (b) => b.chain_steps_per_s},
  {label: 'server CPU ms per step (CouchDB: with couchjs)', value: (r) => r.figures.server_cpu_ms_per_step, bull: (b) => b.server_cpu_ms_per_step},
  {label: 'server CPU ms per get+put at 32 in flight', value: (r) => r.figures.server_cpu_ms_per_update_c32},
  {label: "  same, with edw's validate_doc_update", value: (r) => r.figures.server_cpu_ms_per_update_c32_validated},
  {label: 'listener CPU ms per step', value: (r) => r.figures.listener_cpu_ms_per_step, bull: (b) => b.worker_cpu_ms_per_step},
  {label: 'chain docs/s, first 10% (after 1 s)', value: (r) => r.figures.first_10pct_docs_per_s},
  {label: 'chain docs/s, last 10%', value: (r) => r.figures.last_10pct_docs_per_s},
  {label: 'last 10% / first 10%', value: (r) => r.figures.last_vs_first_10pct, target: '>= 0.8 (at 100k)'},
  {label: 'baseline steps/s (seed style)', value: (r) => r.figures.baseline_steps_per_s},
  {label: 'latency register -> first step, p50 ms', value: (r) => r.figures.latency_ms_p50, target: '< 50 (CouchDB < 30)', bull: (b) => b.latency_ms_p50},
  {label: 'latency register -> first step, p99 ms', value: (r) => r.figures.latency_ms_p99, target: '< 250 (CouchDB < 150)', bull: (b) => b.latency_ms_p99},
  {label: 'edw status ms (warm), at the chain size', value: (r) => r.figures.status_ms, target: '< 1000 at 100k'},
  {label: 'edw status ms (first call after the run)', value: (r) => r.figures.status_cold_ms},
  {label: 'listener peak RSS MB (child process)', value: (r) => r.figures.peak_rss_mb, bull: (b) => b.peak_rss_mb},
  {label: 'listener heap MB after GC, first tenth of documents', value: (r) => tenth(r, 0)},
  {label: 'listener heap MB after GC, last tenth of documents', value: (r) => tenth(r, -1), target: 'flat'},
  {label: 'ratio chain / single update c32', value: (r) => r.ratios.vs_single_update_32, target: '>= 2 pouchdb-server, >= 3 CouchDB, >= 2 cluster'},
  {label: '  the same ratio allowed by server CPU (per update / per step)', value: (r) => r.ratios.server_cpu_update_over_step},
  {label: 'ratio chain / baseline', value: (r) => r.ratios.vs_baseline, target: '>= 10 (CouchDB >= 20, cluster >= 10)'},
  {label: "ratio chain / BullMQ's chain", value: (r) => r.ratios.vs_bullmq, target: '>= 0.5 embedded'},
];

function cell(value: number | null | undefined): string {
  if (value === null || value === undefined || !Number.isFinite(value)) return '-';
  return value >= 1000 ? Math.round(value).toLocaleString('en-US') : String(significant(value));
}

/** The table as Markdown (prints well in a terminal too); BullMQ's column when it was measured. */
export function formatTable(backends: Partial<Record<BackendName, BackendResult>>, bull?: BullFigures): string[] {
  const names = (['embedded', 'server'] as const).filter((n) => backends[n]);
  const heads = [...names, ...(bull ? ['BullMQ'] : [])];
  const lines = [
    `| figure | ${heads.join(' | ')} | target |`,
    `| --- | ${heads.map(() => '---:').join(' | ')} | --- |`,
  ];
  for (const row of ROWS) {
    const cells = names.map((n) => cell(row.value(backends[n]!)));
    if (bull) cells.push(cell(row.bull?.(bull)));
    lines.push(`| ${row.label} | ${cells.join(' | ')} | ${row.target ?? ''} |`);
  }
  return lines;
}

/** Each backend's result with its ratio to BullMQ's chain. */
export function withBullRatio(backends: Partial<Record<BackendName, BackendResult>>, bull: BullFigures | undefined): void {
  if (!bull) return;
  for (const result of Object.values(backends)) {
    const chain = result!.figures.chain_steps_per_s;
    result!.ratios.vs_bullmq = chain === null ? null : round(chain / bull.chain_steps_per_s);
  }
}

/** BullMQ's figures as results.json holds them, rounded. */
export function bullResult(bull: BullFigures): Record<string, string | number | boolean | null> {
  return Object.fromEntries(Object.entries(bull).map(([k, v]) => [k, typeof v === 'number' ? round(v) : v]));
}

/** Store calls per step completion in the chain, one line per backend and kind of call. */
export function formatProfile(backends: Partial<Record<BackendName, BackendResult>>): string[] {
  const lines = ['| backend | call | calls per step | docs/rows per step | ms per step (summed) |', '| --- | --- | ---: | ---: | ---: |'];
  for (const [name, result] of Object.entries(backends)) {
    const calls = (result?.details.calls_per_step ?? {}) as Record<string, {calls: number; items: number; ms: number}>;
    for (const [kind, c] of Object.entries(calls).sort((a, b) => b[1].ms - a[1].ms)) {
      lines.push(`| ${name} | ${kind} | ${significant(c.calls)} | ${significant(c.items)} | ${significant(c.ms)} |`);
    }
  }
  return lines;
}
