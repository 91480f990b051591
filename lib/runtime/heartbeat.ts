import {hostname} from 'node:os';
import {errorMessage} from '../errors/index.js';
import type {Logger} from '../log/index.js';
import type {Store} from '../store/index.js';
import type {ListenerState} from './events.js';
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

/** `alive`; `stale`: no beat for three intervals, the process is likely gone; `stopped`: it said so as it stopped. */
export type HeartbeatState = 'alive' | 'stale' | 'stopped';

/** What a heartbeat document says of its process at `now` (epoch ms). */
export function heartbeatState(doc: HeartbeatDoc, now: number): HeartbeatState {
  return doc.stopped ? 'stopped' : now - doc.beat_ms > 3 * doc.interval_ms ? 'stale' : 'alive';
}

/**
 * Delete heartbeat documents of processes stopped, or silent, for longer than `olderThanMs` at `now`;
 * returns how many went. Never a live one: an alive document is left, and each deletion names the
 * revision that was read, so a process that beat since keeps its document (the deletion conflicts).
 * A process only silent for that long (a clock far off, a long partition) writes its document again
 * at its next beat.
 */
export async function deleteOldHeartbeats(store: Store, docs: HeartbeatDoc[], olderThanMs: number, now: number, signal?: AbortSignal): Promise<number> {
  const old = docs.filter((doc) => doc._rev && heartbeatState(doc, now) !== 'alive' && now - doc.beat_ms > olderThanMs);
  if (old.length === 0) return 0;
  const outcomes = await store.bulkWrite(old.map((doc) => ({_id: doc._id, _rev: doc._rev, _deleted: true})), signal);
  return outcomes.filter((o) => o.ok).length;
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
