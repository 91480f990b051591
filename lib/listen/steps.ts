import {loadSteps} from '../../listeners/index.js';
import {ConfigError} from '../errors/index.js';
import type {Config} from '../config/index.js';
import type {ChainStep} from '../runtime/index.js';

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
