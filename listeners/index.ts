import {pathToFileURL} from 'node:url';
import {COMMON_STEP_KEYS, type BuiltinKind, type StepConfig} from '../lib/config/index.js';
import {ConfigError, errorMessage} from '../lib/errors/index.js';
import type {ChainStep} from '../lib/runtime/index.js';
import {builtinIdentity, fileIdentity} from './code-identity.js';
import {commandStep} from './command.js';
import type {StepDefinition} from './definition.js';
import {ingestDetections} from './ingest-detections.js';
import {createMoveToSps} from './move-to-sps.js';
import {signalProcessing} from './signal-processing.js';

export {commandStep, splitCommand, EXIT_TEMPFAIL} from './command.js';
export type {StepDefinition} from './definition.js';
export {detectionId} from './ingest-detections.js';
export {sftpSettings, type SftpStepSettings} from './sftp-transport.js';

/**
 * The steps that ship with edw, by `kind`: each call makes a new instance, so a step that keeps
 * something between documents (move_to_sps's SFTP connections) keeps it per listener.
 */
export const BUILTIN_STEPS: Record<BuiltinKind, () => StepDefinition> = {
  move_to_sps: createMoveToSps,
  signal_processing: () => signalProcessing,
  ingest_detections: () => ingestDetections,
};

function isStep(value: unknown): value is StepDefinition {
  return !!value && typeof value === 'object' && typeof (value as StepDefinition).run === 'function' && typeof (value as StepDefinition).version === 'string';
}

/** A user's module step: its default export, or its export named `step`, is `{version, run}` (a `name` is ignored: the config names it). */
async function moduleStep(config: StepConfig): Promise<StepDefinition> {
  let loaded: Record<string, unknown>;
  try {
    loaded = (await import(pathToFileURL(config.module!).href)) as Record<string, unknown>;
  } catch (error) {
    throw new ConfigError(`[step.${config.name}] module ${config.module} cannot be loaded: ${(error as Error).message.split('\n')[0]}`, {cause: error});
  }
  const step = [loaded.default, loaded.step].find(isStep);
  if (!step) throw new ConfigError(`[step.${config.name}] module ${config.module} exports no step (default or 'step' export with version and run)`);
  const declared = step.settings;
  if (declared !== undefined && (typeof declared !== 'object' || declared === null || Array.isArray(declared))) {
    throw new ConfigError(`[step.${config.name}] module ${config.module}: its settings export must be an object of setting names and descriptions`);
  }
  return step;
}

/**
 * Check a step's section against what the step takes: every key must be a common one or one the step
 * declares (a typo like `concurency` is named with the keys the section knows), then the step checks
 * the values itself. ConfigErrors (exit 2), so a listener refuses to start before touching a document.
 */
async function checkSection(config: StepConfig, step: StepDefinition): Promise<void> {
  const way = config.kind ? 'kind' : config.command ? 'command' : 'module';
  const common = COMMON_STEP_KEYS.filter((k) => k === way || !['kind', 'command', 'module'].includes(k));
  const known: string[] = [...common, ...Object.keys(step.settings ?? {})];
  const unknown = Object.keys(config.settings).filter((k) => !known.includes(k));
  if (unknown.length > 0) {
    throw new ConfigError(`unknown setting${unknown.length > 1 ? 's' : ''} ${unknown.join(', ')} in [step.${config.name}] (known: ${known.join(', ')})`);
  }
  try {
    await step.checkSettings?.(config.settings, config.name);
  } catch (error) {
    if (error instanceof ConfigError) throw error;
    throw new ConfigError(`[step.${config.name}] ${errorMessage(error)}`, {cause: error});
  }
}

/**
 * Bind each configured step to its implementation and its place in the chain, checking each
 * section's settings first (unknown keys, bad values): a ConfigError before any document is touched.
 */
export async function loadSteps(configs: StepConfig[]): Promise<ChainStep[]> {
  const steps: ChainStep[] = [];
  for (const config of configs) {
    let step: StepDefinition;
    if (config.kind) step = BUILTIN_STEPS[config.kind]();
    else if (config.command) step = commandStep(config.name, config.command, config.version!, {dir: config.dir});
    else step = await moduleStep(config);
    await checkSection(config, step);
    const identify = step.identify?.bind(step) ?? (config.module ? fileIdentity(config.module) : builtinIdentity());
    steps.push({
      name: config.name, after: config.after, version: config.version ?? step.version,
      run: step.run.bind(step), ...(step.close ? {close: step.close.bind(step)} : {}),
      concurrency: config.concurrency, attempts: config.attempts, timeoutMs: config.timeoutMs, settings: config.settings, identify,
    });
  }
  return steps;
}
