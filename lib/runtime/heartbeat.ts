import {hostname} from 'node:os';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import type {ListenerState} from './listener.js';
import {updateDocument} from './update.js';

/** The document a listener process keeps up to date, so an operator sees every daemon from anywhere. */
export interface HeartbeatDoc {
  _id: string;
  _rev?: string;
  type: 'listener';
  owner: string;
  host: string;
  pid: number;
  started: string;
  /** Last beat: ISO 8601 and epoch ms (the view's value). */
  beat: string;
  beat_ms: number;
  /** Milliseconds between beats: a beat older than a few of these means the process is gone. */
  interval_ms: number;
  stopped?: string;
  listeners: ListenerState[];
  completed: number;
  failed: number;
}

export interface HeartbeatOptions {
  store: Store;
  owner: string;
  log: Logger;
  /** Current state of this process's listeners and counts. */
  state: () => {listeners: ListenerState[]; completed: number; failed: number};
  /** @default 10000 */
  intervalMs?: number;
}

/** Id of a listener process's heartbeat document. */
export function heartbeatId(owner: string): string {
  return `edw-listener:${owner}`;
}

/** Writes the heartbeat document now and every `intervalMs`, and a last one saying it stopped. */
export class Heartbeat {
  readonly #options: HeartbeatOptions;
  readonly #started = new Date().toISOString();
  readonly #intervalMs: number;
  #timer: NodeJS.Timeout | undefined;
  #writing: Promise<void> = Promise.resolve();

  constructor(options: HeartbeatOptions) {
    this.#options = options;
    this.#intervalMs = options.intervalMs ?? 10_000;
    if (!(this.#intervalMs > 0)) throw new TypeError(`Heartbeat option intervalMs: expected a positive number, got ${this.#intervalMs}`);
  }

  start(): void {
    this.#beat();
    this.#timer = setInterval(() => this.#beat(), this.#intervalMs);
    this.#timer.unref();
  }

  /** Stop beating and record the stop. Idempotent. */
  async stop(): Promise<void> {
    clearInterval(this.#timer);
    this.#beat(new Date().toISOString());
    await this.#writing;
  }

  #beat(stopped?: string): void {
    // One write at a time; a beat that fails (database away) is logged at debug and the next one tries again.
    this.#writing = this.#writing.then(async () => {
      const {store, owner} = this.#options;
      const now = Date.now();
      const body: HeartbeatDoc = {
        _id: heartbeatId(owner), type: 'listener', owner, host: hostname(), pid: process.pid, started: this.#started,
        beat: new Date(now).toISOString(), beat_ms: now, interval_ms: this.#intervalMs, ...this.#options.state(),
        ...(stopped ? {stopped} : {}),
      };
      try {
        await updateDocument(store, body._id, (current) => ({...body, ...(current?._rev ? {_rev: current._rev} : {})}));
      } catch (error) {
        this.#options.log.debug('heartbeat not written', {error: errorMessage(error)});
      }
    });
  }
}
