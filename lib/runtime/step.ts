import type {Logger} from '../log/index.js';
import type {DataFileDoc, StepResult} from '../pipeline/index.js';
import type {Store} from '../store/index.js';

/** What a step gets besides the document. */
export interface StepContext {
  /** The step's name as configured (the `name` of the entry it produces). */
  step: string;
  /** The step's version as configured (recorded with its entry): outputs named after it are not overwritten by another version's. */
  version: string;
  /** Every key of the step's `[step.NAME]` section, as strings (paths made absolute). */
  settings: Record<string, string>;
  /** The previous step's recorded output (the original file for the first step); undefined when none is recorded. */
  input: string | undefined;
  /** 1 for the first try, counting retries. */
  attempt: number;
  /** A logger whose lines name the document and the step. */
  log: Logger;
  /** Aborted on timeout, on a lost claim, or when the listener is stopped hard. Pass it to anything that waits. */
  signal: AbortSignal;
  /** The database, for steps that write documents of their own (detections). */
  store: Store;
}

/**
 * A step: `run` gets a data-file document and a context and returns what to record as the entry's
 * `result`. It must be idempotent: after a crash it may run again on the same document.
 */
export interface Step {
  /** The version recorded with each entry; a new version is a new step for "one completed entry per step and version". */
  version: string;
  run(doc: DataFileDoc, ctx: StepContext): Promise<StepResult>;
  /**
   * Release what the step keeps between documents (open connections). Called once, when the listener
   * running it stops, after its running documents have finished or been aborted. Optional.
   */
  close?(): Promise<void>;
}

/**
 * What code a step ran: for command and module steps the md5 of the executable or module file and,
 * when that file is in a git work tree, its commit and whether the tree had changes; for built-in
 * steps the edw release they ship with. Recorded as `code` in every entry.
 */
export interface CodeIdentity {
  /** The executable or module file. */
  file?: string;
  md5?: string;
  git?: {commit: string; dirty: boolean};
  /** Built-in steps: `edw <version>`. */
  builtin?: string;
}

/** A step bound to its place in the chain. */
export interface ChainStep extends Step {
  name: string;
  /** The stage this step follows. */
  after: string;
  concurrency: number;
  attempts: number;
  timeoutMs: number;
  settings: Record<string, string>;
  /** The code the step runs now (asked before each attempt; cheap when the file has not changed). @default none recorded */
  identify?: () => Promise<CodeIdentity | undefined>;
}
