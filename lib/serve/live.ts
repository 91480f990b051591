import {setTimeout as delay} from 'node:timers/promises';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';

/** What is sent to each client: an event name and its JSON data. */
export type Send = (event: string, data: unknown) => void;

export interface LiveFeedOptions {
  store: Store;
  log: Logger;
  /** The status as `GET /api/v1/status` gives it, sent after changes. */
  status: () => Promise<unknown>;
  /** Least time between two status events, ms. @default 1000 */
  statusEveryMs?: number;
  /** Long-poll wait of one feed request, ms. @default 25000 */
  pollMs?: number;
  /** Wait after a failed feed request before the next, ms. @default 2000 */
  retryMs?: number;
}

/**
 * The database's changes, fanned out to every connected client (`GET /api/v1/events`): one feed for
 * all of them, followed only while any is connected. Each page of changes is a `change` event with
 * the ids; a `status` event follows, at most once per `statusEveryMs`, so that a busy chain costs one
 * status reading a second whatever the number of clients.
 */
export class LiveFeed {
  readonly #options: LiveFeedOptions;
  readonly #clients = new Set<Send>();
  #controller: AbortController | undefined;
  #loop: Promise<void> | undefined;
  #statusTimer: NodeJS.Timeout | undefined;

  constructor(options: LiveFeedOptions) {
    this.#options = options;
  }

  /** Add a client; it gets the status at once. Returns the function that removes it. */
  subscribe(send: Send): () => void {
    this.#clients.add(send);
    void this.#sendStatus([send]);
    if (!this.#loop) {
      const controller = new AbortController();
      this.#controller = controller;
      this.#loop = this.#follow(controller.signal).finally(() => {
        if (this.#controller === controller) this.#loop = undefined;
      });
    }
    return () => {
      this.#clients.delete(send);
      if (this.#clients.size === 0) this.#stopFollowing();
    };
  }

  /** Stop following the feed; clients are left to their connections. Idempotent. */
  async close(): Promise<void> {
    this.#clients.clear();
    const loop = this.#loop;
    this.#stopFollowing();
    await loop;
  }

  #stopFollowing(): void {
    this.#controller?.abort();
    this.#controller = undefined;
    this.#loop = undefined;
    clearTimeout(this.#statusTimer);
    this.#statusTimer = undefined;
  }

  #broadcast(event: string, data: unknown, to: Iterable<Send> = this.#clients): void {
    for (const send of to) send(event, data);
  }

  async #sendStatus(to?: Send[]): Promise<void> {
    try {
      this.#broadcast('status', await this.#options.status(), to);
    } catch (error) {
      this.#options.log.warn('live status not read', {error: errorMessage(error)});
    }
  }

  #statusSoon(): void {
    if (this.#statusTimer) return;
    this.#statusTimer = setTimeout(() => {
      this.#statusTimer = undefined;
      void this.#sendStatus();
    }, this.#options.statusEveryMs ?? 1000);
  }

  async #follow(signal: AbortSignal): Promise<void> {
    const {store, log} = this.#options;
    let since: string | undefined;
    let failing = false;
    while (!signal.aborted) {
      try {
        since ??= (await store.info()).updateSeq;
        const page = await store.changes({since, limit: 500, waitMs: this.#options.pollMs ?? 25_000, signal});
        since = page.lastSeq;
        failing = false;
        const ids = page.results.map((c) => c.id).filter((id) => !id.startsWith('_design/'));
        if (ids.length && !signal.aborted) {
          this.#broadcast('change', {ids});
          this.#statusSoon();
        }
      } catch (error) {
        if (signal.aborted) return;
        if (!failing) log.warn('live feed interrupted, retrying', {error: errorMessage(error)});
        failing = true;
        await delay(this.#options.retryMs ?? 2000, undefined, {signal}).catch(() => {});
      }
    }
  }
}
