import {hostname, userInfo} from 'node:os';
import {errorMessage, isRetryable, StepError, UnavailableError} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import {inputOf, type DataFileDoc, type ProcessEntry, type StepResult} from '../pipeline/index.js';
import type {Store} from '../store/index.js';
import {whenAborted} from './backoff.js';
import type {ChainStep} from './step.js';

/** Why a running step was cut short by the runtime rather than failing on its own. */
export type Interruption = 'timeout' | 'claim-lost' | 'stopped';

export class StepInterrupted extends Error {
  constructor(readonly reason: Interruption, message: string) {
    super(message);
    this.name = 'StepInterrupted';
  }
}

export interface ExecuteOptions {
  step: ChainStep;
  doc: DataFileDoc;
  attempt: number;
  store: Store;
  log: Logger;
  /** Signals that interrupt the step (a hard stop, a lost lease); their StepInterrupted reason says why. */
  signals: AbortSignal[];
}

/** What one run of a step came to. */
export interface StepOutcome {
  entry: ProcessEntry;
  retryable: boolean;
  /** The step failed because the database itself could not be reached: not the step's fault. */
  databaseUnreachable?: boolean;
  interrupted?: Interruption;
}

/** The user this process runs as (recorded with each entry: who ran it), or none when the system has no name for it. */
const USER = ((): string | undefined => {
  try {
    return userInfo().username;
  } catch {
    return undefined;
  }
})();

/** Setting names that may hold a secret (or where one is): left out of the recorded settings. */
const SECRET = /pass|token|secret|key|credential|auth/i;

/** The settings a step ran with, as recorded in its entry: every key but those that may hold a secret. */
export function publicSettings(settings: Readonly<Record<string, string>>): Record<string, string> {
  return Object.fromEntries(Object.entries(settings).filter(([key]) => !SECRET.test(key)));
}

/** Run a step once on a document and describe the attempt as a process entry (status done or failed). */
export async function executeStep(options: ExecuteOptions): Promise<StepOutcome> {
  const {step} = options;
  // One signal for the step: the runtime's interruptions, and its own timeout.
  const control = new AbortController();
  const unlink = options.signals.map((source) => {
    const onAbort = (): void => control.abort(source.reason);
    if (source.aborted) onAbort();
    else source.addEventListener('abort', onAbort, {once: true});
    return () => source.removeEventListener('abort', onAbort);
  });
  const timeout = setTimeout(() => control.abort(new StepInterrupted('timeout', `step ${step.name} timed out after ${step.timeoutMs} ms`)), step.timeoutMs);
  const signal = control.signal;
  try {
    return await attemptStep(options, signal);
  } finally {
    clearTimeout(timeout);
    for (const u of unlink) u();
  }
}

async function attemptStep(options: ExecuteOptions, signal: AbortSignal): Promise<StepOutcome> {
  const {step, doc, attempt} = options;
  const started = new Date();
  const code = await step.identify?.().catch(() => undefined);
  const base = {
    name: step.name, started: started.toISOString(), host: hostname(), ...(USER ? {user: USER} : {}), version: step.version, attempt,
    ...(code ? {code} : {}), settings: publicSettings(step.settings),
  };
  try {
    const input = inputOf(doc, step.after);
    const result: StepResult = await Promise.race([
      step.run(doc, {step: step.name, version: step.version, settings: step.settings, input, attempt, log: options.log, signal, store: options.store}),
      whenAborted(signal),
    ]);
    return {entry: {...base, status: 'done', finished: new Date().toISOString(), result: result ?? {}}, retryable: false};
  } catch (error) {
    const interrupted = signal.aborted && signal.reason instanceof StepInterrupted ? signal.reason.reason : undefined;
    // A timeout counts as a failed attempt that may pass; a stop or a lost claim records nothing.
    const message = interrupted === 'timeout' ? (signal.reason as Error).message : errorMessage(error);
    const retryable = interrupted === 'timeout' || isRetryable(error);
    const detail = error instanceof StepError && typeof (error as {detail?: unknown}).detail === 'string' ? (error as {detail?: string}).detail : undefined;
    return {
      entry: {...base, status: 'failed', finished: new Date().toISOString(), error: {message, retryable, ...(detail ? {detail} : {})}},
      retryable,
      // Only the store throws UnavailableError: the step's own reads or writes did not reach the database.
      databaseUnreachable: !interrupted && error instanceof UnavailableError,
      ...(interrupted ? {interrupted} : {}),
    };
  }
}
