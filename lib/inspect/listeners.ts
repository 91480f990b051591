import type {HeartbeatDoc} from '../runtime/index.js';
import {DESIGN} from '../design/index.js';
import type {Store} from '../store/index.js';

export interface ListenerReport extends HeartbeatDoc {
  /** `alive`, `stale` (no beat for three intervals: the process is likely gone) or `stopped`. */
  state: 'alive' | 'stale' | 'stopped';
}

/** Every listener process that ever beat in this database, newest beat first, each marked alive, stale or stopped. */
export async function listListeners(store: Store, now = Date.now()): Promise<ListenerReport[]> {
  const result = await store.query({design: DESIGN, view: 'listeners', includeDocs: true});
  return result.rows
    .map((row) => row.doc as unknown as HeartbeatDoc)
    .filter((doc) => !!doc)
    .map((doc): ListenerReport => ({
      ...doc,
      state: doc.stopped ? 'stopped' : now - doc.beat_ms > 3 * doc.interval_ms ? 'stale' : 'alive',
    }))
    .sort((a, b) => b.beat_ms - a.beat_ms);
}
