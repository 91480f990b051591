import {ConflictError} from '../errors/index.js';
import type {Doc} from './types.js';

/**
 * Write `_local/<id>`, last write wins, with the revision this store last wrote or read for it: no
 * read before each write (the stage counts are a ~2 MB document at 100,000 documents, written every
 * few seconds). A revision that is not the current one any more (another process wrote) is a 409:
 * read it, write again.
 */
export async function putLocalDoc(
  revs: Map<string, string>, id: string, body: Record<string, unknown>,
  io: {get(id: string): Promise<Doc | null>; put(doc: Doc): Promise<string>},
): Promise<void> {
  const docId = `_local/${id}`;
  let rev = revs.has(docId) ? revs.get(docId) : (await io.get(docId))?._rev;
  for (let attempt = 0; ; attempt++) {
    try {
      revs.set(docId, await io.put({...body, _id: docId, ...(rev ? {_rev: rev} : {})}));
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || attempt >= 5) throw error;
      rev = (await io.get(docId))?._rev;
    }
  }
}
