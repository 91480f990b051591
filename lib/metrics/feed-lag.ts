import type {Store} from '../store/index.js';

/** The most changes a lag reading counts: past this it says this many (the feed is that far behind, or more). */
export const LAG_CAP = 10_000;

/**
 * How far a feed position is behind the database, in changes: the changes after `since` (CouchDB's
 * seqs are opaque, so they are counted, not subtracted), at most `cap`.
 */
export async function feedLag(store: Store, since: string, cap = LAG_CAP): Promise<number> {
  let count = 0;
  let position = since;
  while (count < cap) {
    const page = await store.changes({since: position, limit: Math.min(1000, cap - count)});
    count += page.results.length;
    if (page.results.length === 0 || page.lastSeq === position) break;
    position = page.lastSeq;
  }
  return Math.min(count, cap);
}
