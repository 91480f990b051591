import {setMaxListeners} from 'node:events';

/**
 * A long-lived signal (a store's close, a listener's stop) is listened to by every request in flight,
 * often more than the default warning threshold of 10: allow any number.
 */
export function manyListeners(signal: AbortSignal): AbortSignal {
  setMaxListeners(0, signal);
  return signal;
}

/** Raised when a request takes longer than its deadline. */
export class DeadlineError extends Error {
  override name = 'TimeoutError';
}

/**
 * Run `work` with one signal that aborts when any of `sources` aborts or after `timeoutMs`, and
 * settle as soon as it aborts even if `work` ignores it.
 *
 * Why not `AbortSignal.any([... , AbortSignal.timeout(ms)])` handed to fetch: Node holds timeout
 * signals weakly, and undici follows a request's signal through weak references, so after a garbage
 * collection the abort can be lost and a long-poll hang forever (nodejs/node#55428, undici#3644).
 * Here the controller is held by the timer and by the listeners until `work` settles.
 */
export async function withDeadline<T>(sources: Array<AbortSignal | undefined>, timeoutMs: number, work: (signal: AbortSignal) => Promise<T>): Promise<T> {
  const controller = new AbortController();
  const unlink: Array<() => void> = [];
  for (const source of sources) {
    if (!source) continue;
    if (source.aborted) controller.abort(source.reason);
    const onAbort = (): void => controller.abort(source.reason);
    source.addEventListener('abort', onAbort, {once: true});
    unlink.push(() => source.removeEventListener('abort', onAbort));
  }
  const timer = setTimeout(() => controller.abort(new DeadlineError(`no answer within ${timeoutMs} ms`)), timeoutMs);
  let onAbort: (() => void) | undefined;
  const aborted = new Promise<never>((_, reject) => {
    onAbort = () => reject(controller.signal.reason);
    if (controller.signal.aborted) onAbort();
    else controller.signal.addEventListener('abort', onAbort, {once: true});
  });
  try {
    return await Promise.race([work(controller.signal), aborted]);
  } finally {
    clearTimeout(timer);
    if (onAbort) controller.signal.removeEventListener('abort', onAbort);
    for (const u of unlink) u();
    aborted.catch(() => {});
  }
}
