import {Command} from 'commander';
import type {Config} from '../config/index.js';
import {createListenRunner, loadChosenSteps, openForListening, type ListenOptions} from '../listen/index.js';
import {louder, type Logger} from '../log/index.js';
import {Registry, registerListenerMetrics, startMetricsServer, type MetricsServer} from '../metrics/index.js';
import type {Runner, RunSummary} from '../runtime/index.js';
import type {Store} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {numberOption} from './options.js';
import {ConfigError} from '../errors/index.js';
import {makeLogger, readConfig, type Io} from './context.js';
import {ListenReport} from './listen-report.js';

export interface ListenRun {
  runner: Runner;
  summary: Promise<RunSummary>;
}

/**
 * Run loaded steps on an open store (lib/listen builds the runner). What it says while it runs (a
 * status line on a terminal, summaries, `caught up`, and `stopped` with the totals once the run has
 * ended) is ListenReport's.
 */
export async function runSteps(config: Config, store: Store, log: Logger, io: Io, options: ListenOptions, beforeRun?: (runner: Runner) => Promise<void>): Promise<ListenRun> {
  const runner = await createListenRunner(config, store, log, options);
  await beforeRun?.(runner);
  const report = new ListenReport({runner, log, io}).start();
  return {runner, summary: runner.run().finally(() => report.stop())};
}

export function listenCommand(state: CliState): Command {
  return new Command('listen')
    .description('run listeners for the named steps (default: all) until stopped')
    .argument('[step...]', 'steps to run')
    .option('--once', 'stop when no document waits at these steps; exit 1 if any failed')
    .option('--verbose', 'log a line per document and step (started, done), as [log] level = verbose does')
    .option('--metrics-port <port>', "serve this process's Prometheus metrics at http://[serve] host:PORT/metrics (0: any free port)", numberOption('--metrics-port', {min: 0}))
    .action(async (names: string[], options: {once?: boolean; verbose?: boolean; metricsPort?: number}, command: Command) => {
      const {io} = state;
      const global = globals(command);
      const read = readConfig(global, io);
      const config = options.verbose ? {...read, log: {...read.log, level: louder(read.log.level, 'verbose')}} : read;
      const log = makeLogger(config, global, io);
      if (options.metricsPort !== undefined && options.metricsPort > 65535) throw new ConfigError(`--metrics-port ${options.metricsPort}: expected a port number, 0 to 65535`);
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
        // A daemon waits for an unreachable server; --once, a batch command, fails at once (lib/listen).
        const store = await openForListening(config, log, {once: options.once, signal: waiting.signal});
        if (!store) return;
        let metrics: MetricsServer | undefined;
        try {
          const run = await runSteps(config, store, log, io, {steps, once: options.once, designChecked: true}, async (created) => {
            if (options.metricsPort === undefined) return;
            const registry = new Registry();
            registerListenerMetrics(registry, created, store);
            metrics = await startMetricsServer(registry, {host: config.serve.host, port: options.metricsPort});
            log.info('metrics', {url: metrics.url});
          });
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
          await metrics?.close();
          await store.close();
        }
      } finally {
        process.off('SIGINT', onSignal);
        process.off('SIGTERM', onSignal);
      }
    });
}
