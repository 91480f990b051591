/** A source of "something changed" notifications, started on first use and cancelled on close. */
export interface ChangeSource {
  onChange(listener: () => void): void;
  cancel(): void;
}

export interface Wake {
  /** Resolve on the next change after this Wake was armed, after `ms`, or on abort, whichever is first. */
  wait(ms: number): Promise<void>;
  cancel(): void;
}

export interface ChangeWaiter {
  /** Arm a wake-up for the next change (arm before reading, so nothing slips between read and wait). */
  next(signal?: AbortSignal): Wake;
  close(): void;
}

/**
 * Long-poll for an in-process database: one live change listener, shared by every waiting caller and
 * opened only while someone waits.
 */
export function changeWaiter(open: () => ChangeSource): ChangeWaiter {
  let source: ChangeSource | undefined;
  const waiting = new Set<() => void>();
  let closed = false;

  const fire = (): void => {
    const listeners = [...waiting];
    waiting.clear();
    for (const listener of listeners) listener();
  };

  return {
    next(signal) {
      let fired = false;
      let resolveWait: (() => void) | undefined;
      const listener = (): void => {
        fired = true;
        resolveWait?.();
      };
      if (!closed) {
        if (!source) {
          source = open();
          source.onChange(fire);
        }
        waiting.add(listener);
      }
      const cancel = (): void => {
        waiting.delete(listener);
      };
      return {
        cancel,
        wait(ms) {
          if (fired || closed || signal?.aborted) return Promise.resolve();
          return new Promise<void>((resolve) => {
            const done = (): void => {
              clearTimeout(timer);
              signal?.removeEventListener('abort', done);
              cancel();
              resolve();
            };
            const timer = setTimeout(done, ms);
            signal?.addEventListener('abort', done, {once: true});
            resolveWait = done;
          });
        },
      };
    },
    close() {
      closed = true;
      source?.cancel();
      source = undefined;
      fire();
    },
  };
}
