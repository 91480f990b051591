/** The bench's chain: three steps whose run() returns at once, linked new → noop_1 → noop_2 → noop_3. */
import type {ChainStep} from '../../lib/runtime/index.js';
import type {DataFileDoc} from '../../lib/pipeline/index.js';

export const NOOP_STEPS = ['noop_1', 'noop_2', 'noop_3'] as const;

export interface NoopChainOptions {
  /** Documents each step runs at once (its p-queue's concurrency). @default 16 */
  concurrency?: number;
  /** Called as each step's run() begins, with the document it got (the latency trickle times this). */
  onRun?: (step: string, doc: DataFileDoc) => void;
}

/** The three no-op steps as the runtime gets configured steps from `loadSteps`: bound to their place in the chain. */
export function noopChain(options: NoopChainOptions = {}): ChainStep[] {
  const concurrency = options.concurrency ?? 16;
  if (!Number.isSafeInteger(concurrency) || concurrency < 1) throw new TypeError(`noopChain option concurrency: expected a whole number of at least 1, got ${concurrency}`);
  return NOOP_STEPS.map((name, i): ChainStep => ({
    name,
    after: i === 0 ? 'new' : NOOP_STEPS[i - 1]!,
    version: '1',
    concurrency,
    attempts: 3,
    timeoutMs: 60_000,
    settings: {},
    async run(doc) {
      options.onRun?.(name, doc);
      return {};
    },
  }));
}
