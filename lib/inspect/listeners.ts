import {deleteOldHeartbeats, heartbeatState, type HeartbeatDoc, type HeartbeatState} from '../runtime/index.js';
import {DESIGN} from '../design/index.js';
import type {Store} from '../store/index.js';

export interface ListenerReport extends HeartbeatDoc {
  /** `alive`, `stale` (no beat for three intervals: the process is likely gone) or `stopped`. */
  state: HeartbeatState;
}

export interface ListListenersOptions {
  /** The time to judge heartbeats at, epoch ms. @default Date.now() */
  now?: number;
  /**
   * Listeners stopped, or silent, for longer than this are forgotten: left out, and their heartbeat
   * documents deleted (never an alive one's). `Infinity` forgets none. @default Infinity
   */
  forgetAfterMs?: number;
  /**
   * Delete the heartbeat documents of the listeners forgotten. False only leaves them out (for a
   * reader that must not write, such as a GET of `edw serve`). @default true
   */
  deleteForgotten?: boolean;
}

export interface ListenersAnswer {
  /** Newest beat first. */
  listeners: ListenerReport[];
  /** Heartbeat documents deleted by this call. */
  forgotten: number;
}

/** Every listener process that beat in this database and is not forgotten, newest beat first, each marked alive, stale or stopped. */
export async function listListeners(store: Store, options: ListListenersOptions = {}): Promise<ListenersAnswer> {
  const now = options.now ?? Date.now();
  const forgetAfterMs = options.forgetAfterMs ?? Infinity;
  const result = await store.query({design: DESIGN, view: 'listeners', includeDocs: true});
  const docs = result.rows.map((row) => row.doc as unknown as HeartbeatDoc).filter((doc) => !!doc);
  const forgotten = Number.isFinite(forgetAfterMs) && options.deleteForgotten !== false ? await deleteOldHeartbeats(store, docs, forgetAfterMs, now) : 0;
  const listeners = docs
    .map((doc): ListenerReport => ({...doc, state: heartbeatState(doc, now)}))
    // Left out whether or not its deletion went through (a user who may not write still sees them go).
    .filter((report) => report.state === 'alive' || now - report.beat_ms <= forgetAfterMs)
    .sort((a, b) => b.beat_ms - a.beat_ms);
  return {listeners, forgotten};
}
