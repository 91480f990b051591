import {pathToFileURL} from 'node:url';
import type {BuiltinKind, StepConfig} from '../lib/config/index.js';
import {ConfigError} from '../lib/errors/index.js';
import type {ChainStep, Step} from '../lib/runtime/index.js';
import {commandStep} from './command.js';
import {ingestDetections} from './ingest-detections.js';
import {createMoveToSps} from './move-to-sps.js';
import {signalProcessing} from './signal-processing.js';

export {commandStep, splitCommand, EXIT_TEMPFAIL} from './command.js';
export {detectionId} from './ingest-detections.js';
export {sftpSettings, type SftpStepSettings} from './sftp-transport.js';

/**
 * The steps that ship with edw, by `kind`: each call makes a new instance, so a step that keeps
 * something between documents (move_to_sps's SFTP connections) keeps it per listener.
 */
export const BUILTIN_STEPS: Record<BuiltinKind, () => Step> = {
  move_to_sps: createMoveToSps,
  signal_processing: () => signalProcessing,
  ingest_detections: () => ingestDetections,
};

function isStep(value: unknown): value is Step {
  return !!value && typeof value === 'object' && typeof (value as Step).run === 'function' && typeof (value as Step).version === 'string';
}

/** A user's module step: its default export, or its export named `step`, is `{version, run}` (a `name` is ignored: the config names it). */
async function moduleStep(config: StepConfig): Promise<Step> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(config.module!).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`[step.${config.name}] module ${config.module} cannot be loaded: ${(error as Error).message.split('\n')[0]}`, {cause: error});
  }
  const step = [loaded.default, loaded.step].find(isStep);
  if (!step) throw new ConfigError(`[step.${config.name}] module ${config.module} exports no step (default or 'step' export with version and run)`);
  return step;
}

/** Bind each configured step to its implementation and its place in the chain. */
export async function loadSteps(configs: StepConfig[]): Promise<ChainStep[]> {
  const steps: ChainStep[] = [];
  for (const config of configs) {
    let step: Step;
    if (config.kind) step = BUILTIN_STEPS[config.kind]();
    else if (config.command) step = commandStep(config.name, config.command, config.version!);
    else step = await moduleStep(config);
    steps.push({
      name: config.name, after: config.after, version: config.version ?? step.version,
      run: step.run.bind(step), ...(step.close ? {close: step.close.bind(step)} : {}),
      concurrency: config.concurrency, attempts: config.attempts, timeoutMs: config.timeoutMs, settings: config.settings,
    });
  }
  return steps;
}
