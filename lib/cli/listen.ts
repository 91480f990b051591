import {Command} from 'commander';
import type {Config} from '../config/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, diffDesignDoc, type DesignDoc} from '../design/index.js';
import {ConfigError, EdwError} from '../errors/index.js';
import {loadSteps} from '../../listeners/index.js';
import {louder, type Logger} from '../log/index.js';
import {Reachability, Runner, type ChainStep, type RunSummary} from '../runtime/index.js';
import {isServerUrl, openStore, type Store} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {makeLogger, readConfig, type Io} from './context.js';
import {ListenReport} from './listen-report.js';

/** Refuse to listen without edw's design document, or with an outdated one (the filter and views must match). */
export async function checkDesign(store: Store): Promise<void> {
  for (const wanted of await compileDesignDocs(DESIGN_DOCS_DIR)) {
    const current = (await store.get(wanted._id)) as DesignDoc | null;
    const change = diffDesignDoc(wanted, current);
    if (change.action === 'created') throw new EdwError(`design document ${wanted._id} is missing in ${store.location}: run 'edw init' or 'edw push-design'`);
    if (change.action === 'updated') throw new EdwError(`design document ${wanted._id} in ${store.location} is outdated (${[...change.changed, ...change.added, ...change.removed].join(', ')}): run 'edw push-design'`);
  }
}

export interface ListenRun {
  runner: Runner;
  summary: Promise<RunSummary>;
}

/**
 * Load the named steps (all when none) and check their settings: an unknown step, an unknown key in a
 * step section or a bad value is a ConfigError (exit 2) before any database is opened or waited for.
 */
export async function loadChosenSteps(config: Config, names: string[] = []): Promise<ChainStep[]> {
  const known = config.steps.map((s) => s.name);
  const unknown = names.filter((n) => !known.includes(n));
  if (unknown.length) throw new ConfigError(`unknown step ${unknown.join(', ')} (steps: ${known.join(', ')})`);
  return loadSteps(names.length ? config.steps.filter((s) => names.includes(s.name)) : config.steps);
}

/**
 * Run loaded steps on an open store. What it says while it runs (a status line on a terminal,
 * summaries, `caught up`, and `stopped` with the totals once the run has ended) is ListenReport's.
 */
export async function runSteps(config: Config, store: Store, log: Logger, io: Io, options: {steps: ChainStep[]; once?: boolean; designChecked?: boolean}): Promise<ListenRun> {
  if (!options.designChecked) await checkDesign(store);
  const runner = new Runner({
    store, steps: options.steps, log, once: options.once,
    leaseMs: config.listen.leaseMs, pollMs: config.listen.pollMs, backoffMs: config.listen.backoffMs, maxBackoffMs: config.listen.maxBackoffMs,
    countsMs: config.listen.countsMs, conflictsMs: config.listen.conflictsMs,
  });
  const report = new ListenReport({runner, log, io}).start();
  return {runner, summary: runner.run().finally(() => report.stop())};
}

/**
 * Open the configured database for a listener and check its design document, waiting (with capped
 * backoff, one log line when it goes and one when it is back) while a server cannot be reached or
 * cannot answer (a cluster whose nodes are restarting). An embedded database held by another process
 * is not an outage, nor is a missing or outdated design document: those fail at once. Undefined when
 * `signal` aborts first.
 */
async function openWhenReachable(config: Config, log: Logger, signal: AbortSignal): Promise<Store | undefined> {
  const open = async (): Promise<Store> => {
    const store = await openStore({...config.database, share: true});
    try {
      await checkDesign(store);
      return store;
    } catch (error) {
      await store.close();
      throw error;
    }
  };
  if (!isServerUrl(config.database.url)) return open();
  const reach = new Reachability({log, backoffMs: config.listen.backoffMs, maxBackoffMs: config.listen.maxBackoffMs});
  return reach.call('open the database', open, signal);
}

export function listenCommand(state: CliState): Command {
  return new Command('listen')
    .description('run listeners for the named steps (default: all) until stopped')
    .argument('[step...]', 'steps to run')
    .option('--once', 'stop when no document waits at these steps; exit 1 if any failed')
    .option('--verbose', 'log a line per document and step (started, done), as [log] level = verbose does')
    .action(async (names: string[], options: {once?: boolean; verbose?: boolean}, command: Command) => {
      const {io} = state;
      const global = globals(command);
      const read = readConfig(global, io);
      const config = options.verbose ? {...read, log: {...read.log, level: louder(read.log.level, 'verbose')}} : read;
      const log = makeLogger(config, global, io);
      // Settings are checked before the database is opened or waited for (a bad one is exit 2 at once),
      // and before signal handlers are installed, so a refusal leaves none behind.
      const steps = await loadChosenSteps(config, names);
      // A daemon waits for its server: SIGINT/SIGTERM while waiting exits 0, as when running.
      const waiting = new AbortController();
      let signals = 0;
      let runner: Runner | undefined;
      const onSignal = (signal: NodeJS.Signals): void => {
        signals++;
        if (!runner) {
          waiting.abort();
        } else if (signals === 1) {
          log.info('stopping: finishing running steps', {signal, timeoutMs: config.listen.stopTimeoutMs});
          void runner.stop(config.listen.stopTimeoutMs);
        } else {
          log.warn('stopping now: running steps aborted', {signal});
          state.exitCode = 1;
          runner.abort();
        }
      };
      process.on('SIGINT', onSignal);
      process.on('SIGTERM', onSignal);
      try {
        // --once is a batch command: an unreachable server fails it at once, with one line.
        const store = options.once ? await openStore({...config.database, share: true}) : await openWhenReachable(config, log, waiting.signal);
        if (!store) return;
        try {
          const run = await runSteps(config, store, log, io, {steps, once: options.once, designChecked: !options.once});
          runner = run.runner;
          if (signals > 0) void runner.stop(config.listen.stopTimeoutMs);
          log.info('listening', {steps: runner.stepListeners.map((l) => l.step.name), database: store.location});
          const result = await run.summary;
          if (options.once) {
            // The command's result, whatever the log level: one line per document that failed for good.
            for (const failure of result.failed) io.err(`failed: ${failure.id} at ${failure.step}: ${failure.entry.error?.message ?? 'unknown error'}`);
            if (result.failed.length > 0) state.exitCode = 1;
          }
        } finally {
          await store.close();
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
