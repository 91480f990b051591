import {loadSteps} from '../../listeners/index.js';
import type {Config} from '../../lib/config/index.js';
import {createLogger, silentLogger, type Logger} from '../../lib/log/index.js';
import {registerFiles} from '../../lib/register/index.js';
import {Runner, type RunSummary} from '../../lib/runtime/index.js';
import {simulate} from '../../lib/simulate/index.js';
import type {Store} from '../../lib/store/index.js';
import {isCompleted, isOfRecord, type DataFileDoc} from '../../lib/pipeline/index.js';

/** Simulate `files` raw files into `dir` and register them. */
export async function simulateAndRegister(store: Store, dir: string, files: number, events = 4): Promise<string[]> {
  const result = await simulate({outDir: dir, files, events, seed: 7});
  const report = await registerFiles({store, paths: result.files, settleMs: 0});
  return report.created;
}

/** A runner over the configured steps (or the named ones); its log goes to `log`, else nowhere (or stderr with EDW_TEST_LOG set). */
export async function runner(store: Store, config: Config, options: {once?: boolean; names?: string[]; owner?: string; log?: Logger; conflictsOnEmbedded?: boolean} = {}): Promise<Runner> {
  const chosen = options.names ? config.steps.filter((s) => options.names!.includes(s.name)) : config.steps;
  return new Runner({
    store, steps: await loadSteps(chosen), log: options.log ?? (process.env.EDW_TEST_LOG ? createLogger({level: 'debug'}) : silentLogger()), once: options.once, owner: options.owner,
    leaseMs: config.listen.leaseMs, pollMs: config.listen.pollMs, backoffMs: config.listen.backoffMs, maxBackoffMs: config.listen.maxBackoffMs,
    conflictsOnEmbedded: options.conflictsOnEmbedded,
  });
}

/** Run the configured steps until nothing waits. */
export async function drain(store: Store, config: Config, names?: string[], options: {log?: Logger} = {}): Promise<RunSummary> {
  return (await runner(store, config, {once: true, names, ...options})).run();
}

/** Every data-file document, read back from the database. */
export async function allDataDocs(store: Store, ids: string[]): Promise<DataFileDoc[]> {
  return (await store.getMany(ids)) as DataFileDoc[];
}

/**
 * Completed entries per step name of one document, superseded re-executions included: on one node
 * the promise is one completed entry per step, so a test there counts every one (a second completion
 * marked superseded is still a step run twice). Cluster tests count completionsOfRecord.
 */
export function completions(doc: DataFileDoc): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of doc.process) if (isCompleted(entry)) out[entry.name] = (out[entry.name] ?? 0) + 1;
  return out;
}

/** Completions of record per step name of one document: completed entries not marked superseded. */
export function completionsOfRecord(doc: DataFileDoc): Record<string, number> {
  const out: Record<string, number> = {};
  for (const entry of doc.process) if (isOfRecord(entry)) out[entry.name] = (out[entry.name] ?? 0) + 1;
  return out;
}
