/**
 * `npm run bench` (issue 6): edw's speed as a fraction of what its database can do, on the embedded
 * database and on a CouchDB-compatible server, in one run. It prints a table and writes the figures
 * to bench/results.json. See docs/benchmarks.md for what each figure's method is.
 *
 *   node dist/scripts/bench.js [--full] [--docs N] [--url URL] [--only embedded|server|bullmq] [--out PATH]
 *                              [--concurrency N] [--status-only [--status-docs N]] [--query-only [--query-docs N]]
 *                              [--lineage-only [--lineage-detections N]] [--serve-only [--serve-docs N]]
 *
 * Exit code: 0 done, 1 a measurement failed (the others still ran and are written), 2 bad usage.
 */
import {mkdir, writeFile} from 'node:fs/promises';
import {loadavg} from 'node:os';
import {dirname, resolve} from 'node:path';
import {pathToFileURL} from 'node:url';
import {embeddedBackend, serverBackend, type BackendName, type BenchBackend} from './bench/backends.js';
import {parseBenchOptions, USAGE, type BenchOptions} from './bench/options.js';
import {formatLineageStudy, runLineageStudy, type LineageStudy} from './bench/lineage.js';
import {bullmqMissing, measureBullmq, type BullFigures} from './bench/bullmq.js';
import {backendResult, bullResult, describeMachine, formatProfile, formatTable, withBullRatio, type BackendResult} from './bench/report.js';
import {runBackend} from './bench/run-backend.js';
import {runStatusStudy, formatStatusStudy, type StatusStudy} from './bench/status-study.js';
import {formatQueryStudy, runQueryStudy, type QueryStudy} from './bench/query-study.js';
import {formatServeStudy, runServeStudy, type ServeStudy} from './bench/serve-study.js';
import {now} from './bench/stats.js';

const note = (line: string): void => void process.stderr.write(`${line}\n`);

async function openBackend(name: BackendName, options: BenchOptions): Promise<BenchBackend> {
  return name === 'embedded' ? embeddedBackend() : serverBackend(options.url);
}

/** Returns whether every measurement ran (the results are written either way). */
async function runMain(options: BenchOptions): Promise<boolean> {
  const started = new Date();
  const start = now();
  const machine = describeMachine();
  const backends: Partial<Record<BackendName, BackendResult>> = {};
  const errors: string[] = [];
  for (const name of options.only) {
    const backend = await openBackend(name, options);
    try {
      note(`bench: ${name}: ${backend.database}`);
      const figures = await runBackend(backend, {docs: options.docs, concurrency: options.concurrency, note});
      backends[name] = backendResult(backend.database, figures);
      errors.push(...figures.errors.map((line) => `${name}: ${line}`));
    } finally {
      await backend.close();
    }
  }
  let bull: BullFigures | undefined;
  if (options.bullmq) {
    const missing = bullmqMissing();
    if (missing) note(`bench: ${missing}`);
    else {
      try {
        bull = await measureBullmq({docs: options.docs, concurrency: options.concurrency, deadlineMs: Math.max(120_000, options.docs * 3 * 40)}, (line) => note(`bench: bullmq: ${line}`));
      } catch (error) {
        errors.push(`bullmq: ${(error as Error).message}`);
      }
    }
  }
  withBullRatio(backends, bull);
  // edw lineage of a detection over 100,000 detections (embedded): the cheap part, without the path timing's view build.
  let lineage: LineageStudy | undefined;
  if (options.only.includes('embedded')) {
    try {
      lineage = await runLineageStudy({detections: options.lineageDetections, paths: false, note});
    } catch (error) {
      errors.push(`lineage: ${(error as Error).message}`);
    }
  }
  const seconds = (now() - start) / 1000;
  const results = {
    machine: {...machine, load_at_end: Math.round(loadavg()[0]! * 100) / 100},
    run: {started: started.toISOString(), seconds: Math.round(seconds), docs: options.docs, full: options.full, concurrency: options.concurrency},
    // Which server each backend's figures came from (each backend's `database` says it too).
    servers: {...Object.fromEntries(Object.entries(backends).map(([name, r]) => [name, r!.database])), ...(bull ? {bullmq: bull.server} : {})},
    backends,
    ...(bull ? {bullmq: bullResult(bull)} : {}),
    ...(lineage ? {lineage} : {}),
  };
  await mkdir(dirname(resolve(options.out)), {recursive: true});
  await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
  const out = (line: string): void => void process.stdout.write(`${line}\n`);
  out(`machine: ${machine.cores} cores (${machine.cpu}), ${machine.memory_gb} GB, Node ${machine.node}, load ${machine.load_at_start} at start, ${results.machine.load_at_end} at end`);
  for (const [name, result] of Object.entries(backends)) out(`${name}: ${result!.database}`);
  if (bull) out(`BullMQ: ${bull.bullmq} on ${bull.server}`);
  out('');
  for (const line of formatTable(backends, bull)) out(line);
  out('');
  out('store calls per step completion in the chain:');
  for (const line of formatProfile(backends)) out(line);
  if (lineage) {
    out('');
    for (const line of formatLineageStudy(lineage)) out(line);
  }
  out('');
  for (const line of errors) out(`failed: ${line}`);
  out(`total: ${Math.round(seconds)} s; figures written to ${options.out}`);
  return errors.length === 0;
}

/** One study on each backend asked for, its figures written to options.out and printed as a table. */
async function runStudy<T>(options: BenchOptions, what: string, docs: number, key: string, study: (backend: BenchBackend) => Promise<T>, format: (studies: Partial<Record<BackendName, T>>) => string[]): Promise<void> {
  const start = now();
  const studies: Partial<Record<BackendName, T>> = {};
  for (const name of options.only) {
    const backend = await openBackend(name, options);
    try {
      note(`bench: ${name}: ${backend.database}: ${what} study at ${docs} documents`);
      studies[name] = await study(backend);
    } finally {
      await backend.close();
    }
  }
  const seconds = (now() - start) / 1000;
  await mkdir(dirname(resolve(options.out)), {recursive: true});
  await writeFile(options.out, `${JSON.stringify({machine: describeMachine(), run: {seconds: Math.round(seconds)}, [key]: studies}, null, 2)}\n`);
  for (const line of format(studies)) process.stdout.write(`${line}\n`);
  process.stdout.write(`\ntotal: ${Math.round(seconds)} s; figures written to ${options.out}\n`);
}

function runStatusOnly(options: BenchOptions): Promise<void> {
  return runStudy<StatusStudy>(options, 'status', options.statusDocs, 'status', (backend) => runStatusStudy(backend, {docs: options.statusDocs, note}), formatStatusStudy);
}

function runQueryOnly(options: BenchOptions): Promise<void> {
  return runStudy<QueryStudy>(options, 'query', options.queryDocs, 'query', (backend) => runQueryStudy(backend, {docs: options.queryDocs, note}), formatQueryStudy);
}

async function runLineageOnly(options: BenchOptions): Promise<void> {
  const start = now();
  const lineage = await runLineageStudy({detections: options.lineageDetections, note});
  const seconds = (now() - start) / 1000;
  await mkdir(dirname(resolve(options.out)), {recursive: true});
  await writeFile(options.out, `${JSON.stringify({machine: describeMachine(), run: {seconds: Math.round(seconds)}, lineage}, null, 2)}\n`);
  for (const line of formatLineageStudy(lineage)) process.stdout.write(`${line}\n`);
  process.stdout.write(`\ntotal: ${Math.round(seconds)} s; figures written to ${options.out}\n`);
}

async function runServeOnly(options: BenchOptions): Promise<void> {
  const start = now();
  const machine = describeMachine();
  const studies: Partial<Record<BackendName, ServeStudy>> = {};
  for (const name of options.only) {
    const backend = await openBackend(name, options);
    try {
      note(`bench: ${name}: ${backend.database}: serve study at ${options.serveDocs} documents`);
      studies[name] = await runServeStudy(backend, {docs: options.serveDocs, note});
    } finally {
      await backend.close();
    }
  }
  const seconds = (now() - start) / 1000;
  const results = {
    machine: {...machine, load_at_end: Math.round(loadavg()[0]! * 100) / 100},
    run: {seconds: Math.round(seconds), docs: options.serveDocs},
    // Which server each backend's figures came from, as bench/results.json says it.
    servers: Object.fromEntries(Object.entries(studies).map(([name, s]) => [name, s!.database])),
    serve: studies,
  };
  await mkdir(dirname(resolve(options.out)), {recursive: true});
  await writeFile(options.out, `${JSON.stringify(results, null, 2)}\n`);
  process.stdout.write(`machine: load ${machine.load_at_start} at start, ${results.machine.load_at_end} at end\n`);
  for (const line of formatServeStudy(studies)) process.stdout.write(`${line}\n`);
  process.stdout.write(`\ntotal: ${Math.round(seconds)} s; figures written to ${options.out}\n`);
}

/** Run the bench; the exit code: 0 done, 1 a measurement failed, 2 bad usage. */
export async function main(argv: string[]): Promise<number> {
  let options: BenchOptions | 'help';
  try {
    options = parseBenchOptions(argv);
  } catch (error) {
    note(`bench: ${(error as Error).message}\n${USAGE}`);
    return 2;
  }
  if (options === 'help') {
    process.stdout.write(`${USAGE}\n`);
    return 0;
  }
  try {
    if (options.statusOnly) {
      await runStatusOnly(options);
      return 0;
    }
    if (options.queryOnly) {
      await runQueryOnly(options);
      return 0;
    }
    if (options.lineageOnly) {
      await runLineageOnly(options);
      return 0;
    }
    if (options.serveOnly) {
      await runServeOnly(options);
      return 0;
    }
    return (await runMain(options)) ? 0 : 1;
  } catch (error) {
    note(`bench: ${(error as Error).message}`);
    if (process.env.EDW_BENCH_DEBUG) note((error as Error).stack ?? '');
    return 1;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  const code = await main(process.argv.slice(2));
  // Exit once the output is flushed, as lib/cli/bin does: a long-poll abandoned at a listener's stop
  // (pouchdb-server holds idle ones open) would otherwise keep the process alive for minutes.
  let pending = 2;
  const done = (): void => {
    if (--pending === 0) process.exit(code);
  };
  process.stdout.write('', done);
  process.stderr.write('', done);
}
