import type {Store} from '../store/index.js';
import {designFunctions, type DesignDoc} from './compile.js';

/** What pushing one design document changes. */
export interface DesignChange {
  id: string;
  /** `created`, `updated` or `unchanged`. */
  action: 'created' | 'updated' | 'unchanged';
  /** Function paths added, changed or removed (`views.stage.map`, ...). */
  added: string[];
  changed: string[];
  removed: string[];
}

/** Compare a compiled design doc with what the database holds. */
export function diffDesignDoc(wanted: DesignDoc, current: DesignDoc | null): DesignChange {
  const now = new Map(current ? designFunctions(current) : []);
  const next = new Map(designFunctions(wanted));
  const added = [...next.keys()].filter((k) => !now.has(k));
  const changed = [...next.keys()].filter((k) => now.has(k) && now.get(k) !== next.get(k));
  const removed = [...now.keys()].filter((k) => !next.has(k));
  const action = !current ? 'created' : added.length + changed.length + removed.length > 0 ? 'updated' : 'unchanged';
  return {id: wanted._id, action, added, changed, removed};
}

export interface PushOptions {
  /** Report what would change without writing. @default false */
  dryRun?: boolean;
}

/** Upload design docs that differ from the database's copy; unchanged ones are not written. */
export async function pushDesignDocs(store: Store, docs: DesignDoc[], options: PushOptions = {}): Promise<DesignChange[]> {
  const changes: DesignChange[] = [];
  for (const doc of docs) {
    const current = (await store.get(doc._id)) as DesignDoc | null;
    const change = diffDesignDoc(doc, current);
    changes.push(change);
    if (change.action !== 'unchanged' && !options.dryRun) {
      await store.put({...doc, ...(current?._rev ? {_rev: current._rev} : {})});
    }
  }
  return changes;
}
