import {createHash} from 'node:crypto';
import {designFunctions, type DesignDoc} from './compile.js';

/**
 * The version of a set of design documents: the first 12 hex digits of a SHA-256 over each
 * document's id and its function sources (`designFunctions`, in path order), documents in id order.
 * It depends only on what CouchDB runs, not on `_rev` or field order, so the same value computed over
 * the copies a database holds (`store.get('_design/edw')`) says whether they are the compiled ones.
 */
export function designVersion(docs: DesignDoc[]): string {
  const hash = createHash('sha256');
  for (const doc of [...docs].sort((a, b) => (a._id < b._id ? -1 : a._id > b._id ? 1 : 0))) {
    hash.update(`${doc._id}\n`);
    const functions = designFunctions(doc).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    for (const [path, source] of functions) hash.update(`${path}\n${source.length}\n${source}\n`);
  }
  return hash.digest('hex').slice(0, 12);
}
