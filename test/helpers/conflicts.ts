import type {DataFileDoc, ProcessEntry} from '../../lib/pipeline/index.js';
import type {Store} from '../../lib/store/index.js';

/** Revision hash of the branch that wins (the higher one, at equal depth) and of the one that loses. */
export const WINS = 'b'.repeat(32);
export const LOSES = 'a'.repeat(32);

/**
 * Put `base`, then write two sibling revisions on top of it, as replication from two sites (or two
 * copies of a cluster's shard) would: `winning` in the revision CouchDB and PouchDB pick as the
 * winner, `losing` in the other. Write them before any validate_doc_update: pouchdb-server checks a
 * replicated revision against the winning one rather than its parent (CouchDB), or drops it.
 */
export async function writeConflict(store: Store, base: DataFileDoc, winning: ProcessEntry[], losing: ProcessEntry[]): Promise<void> {
  const rev1 = await store.put(base);
  const hash = rev1.split('-')[1]!;
  const branch = (suffix: string, process: ProcessEntry[]) => ({...base, _rev: `2-${suffix}`, _revisions: {start: 2, ids: [suffix, hash]}, process});
  await store.writeRevisions([branch(WINS, winning), branch(LOSES, losing)]);
}
