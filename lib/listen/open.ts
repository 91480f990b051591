import type {Config} from '../config/index.js';
import type {Logger} from '../log/index.js';
import {Reachability} from '../runtime/index.js';
import {isServerUrl, openStore, type Store} from '../store/index.js';
import {checkDesign} from './design-check.js';

export interface OpenForListeningOptions {
  /**
   * A batch run (`edw listen --once`): an unreachable server fails it at once. Otherwise (a daemon) it
   * waits for the server. @default false
   */
  once?: boolean;
  /** Ends the wait for a server (the daemon was told to stop); the result is then undefined. */
  signal: AbortSignal;
}

/**
 * Open the configured database for a listener process (shared, so that other edw commands reach an
 * embedded one through it) and check its design document (checkDesign). A daemon waits, with capped
 * backoff and one log line when the server goes and one when it is back, while a server cannot be
 * reached or cannot answer (a cluster whose nodes are restarting); an embedded database held by
 * another process is not an outage, nor is a missing or outdated design document: those fail at
 * once, as everything does for `once`. Undefined when `signal` aborts first.
 */
export async function openForListening(config: Config, log: Logger, options: OpenForListeningOptions): Promise<Store | undefined> {
  const open = async (): Promise<Store> => {
    const store = await openStore({...config.database, share: true});
    try {
      await checkDesign(store);
      return store;
    } catch (error) {
      await store.close();
      throw error;
    }
  };
  if (options.once || !isServerUrl(config.database.url)) return open();
  const reach = new Reachability({log, backoffMs: config.listen.backoffMs, maxBackoffMs: config.listen.maxBackoffMs});
  return reach.call('open the database', open, options.signal);
}
