import type {Config} from '../config/index.js';
import type {Logger} from '../log/index.js';
import {Runner, type ChainStep} from '../runtime/index.js';
import type {Store} from '../store/index.js';
import {checkDesign} from './design-check.js';

export interface ListenOptions {
  /** The steps to run (see loadChosenSteps), in chain order. */
  steps: ChainStep[];
  /** Stop once nothing waits at these steps. @default false */
  once?: boolean;
  /** The design document was checked when the store was opened (openForListening): not again. @default false */
  designChecked?: boolean;
}

/**
 * The Runner of a listener process on an open store, from the `[listen]` settings, once the
 * database's design document is found to be edw's current one (an EdwError saying what to run if
 * not; unless `designChecked`). Not started: the caller attaches what reports on it, then calls `run()`.
 */
export async function createListenRunner(config: Config, store: Store, log: Logger, options: ListenOptions): Promise<Runner> {
  if (!options.designChecked) await checkDesign(store);
  const {listen} = config;
  return new Runner({
    store, steps: options.steps, log, once: options.once,
    leaseMs: listen.leaseMs, pollMs: listen.pollMs, backoffMs: listen.backoffMs, maxBackoffMs: listen.maxBackoffMs,
    countsMs: listen.countsMs, conflictsMs: listen.conflictsMs,
  });
}
