import {ConflictError, NotFoundError} from '../errors/index.js';
import type {Doc, Store} from '../store/index.js';
import type {QueryForm} from './canonical.js';
import type {Answer} from './run.js';

/** A bundle made of an answer (`edw bundle`): where, when, and the md5 of its manifest. */
export interface BundleRecord {
  dir: string;
  archive: string;
  what: string;
  files: number;
  bytes: number;
  manifest_md5: string;
  made: string;
}

/**
 * The cached answer of a query, document `query:<QID>`. Other parts of edw (and analysts' scripts)
 * read `query` (the canonical form) and `ids` (sorted): keep both.
 */
export interface QueryDoc extends Doc {
  type: 'query';
  query: QueryForm;
  ids: string[];
  count: number;
  /** md5 of the sorted ids joined by newlines. */
  md5: string;
  /** When the answer was computed (ISO 8601). */
  computed: string;
  /** The database position the answer reflects. */
  seq: string;
  /** Each document's stage when computed: `names[of[i]]` is the stage of `ids[i]`. */
  stages: {names: string[]; of: number[]};
  bundles: BundleRecord[];
}

export const queryDocId = (qid: string): string => `query:${qid}`;

/** The cached answer of query `qid`, or null. */
export async function readQueryDoc(store: Store, qid: string, signal?: AbortSignal): Promise<QueryDoc | null> {
  const doc = await store.get(queryDocId(qid), {signal});
  return doc && doc.type === 'query' ? (doc as QueryDoc) : null;
}

/** A cached query that must exist (`--show`, `bundle`, `export --query`). */
export async function requireQueryDoc(store: Store, qid: string): Promise<QueryDoc> {
  if (!/^[0-9a-f]{32}$/.test(qid)) throw new NotFoundError(`query ${qid}: a query id is 32 hex digits, as edw query prints it`);
  const doc = await readQueryDoc(store, qid);
  if (!doc) throw new NotFoundError(`no query ${qid} in ${store.location} (run edw query to make one)`);
  return doc;
}

/** The stage of each id, from the compact form kept in the document. */
export function stagesOf(doc: QueryDoc): Map<string, string> {
  return new Map(doc.ids.map((id, i) => [id, doc.stages.names[doc.stages.of[i]!] ?? 'new']));
}

/** Save an answer under its query id, keeping the bundles recorded before; a conflict re-reads once and writes again. */
export async function saveAnswer(store: Store, qid: string, form: QueryForm, answer: Answer, computed: Date): Promise<QueryDoc> {
  const names = [...new Set(answer.stages)].sort();
  const index = new Map(names.map((n, i) => [n, i]));
  for (let tries = 0; ; tries++) {
    const old = await readQueryDoc(store, qid);
    const doc: QueryDoc = {
      _id: queryDocId(qid), ...(old?._rev ? {_rev: old._rev} : {}), type: 'query', query: form, ids: answer.ids, count: answer.ids.length,
      md5: answer.md5, computed: computed.toISOString(), seq: answer.seq, stages: {names, of: answer.stages.map((s) => index.get(s)!)}, bundles: old?.bundles ?? [],
    };
    try {
      doc._rev = await store.put(doc);
      return doc;
    } catch (error) {
      if (!(error instanceof ConflictError) || tries >= 3) throw error;
    }
  }
}

/** Add a bundle to a query document (re-read on a conflict). */
export async function recordBundle(store: Store, qid: string, bundle: BundleRecord): Promise<void> {
  for (let tries = 0; ; tries++) {
    const doc = await requireQueryDoc(store, qid);
    doc.bundles = [...doc.bundles.filter((b) => b.dir !== bundle.dir), bundle];
    try {
      await store.put(doc);
      return;
    } catch (error) {
      if (!(error instanceof ConflictError) || tries >= 3) throw error;
    }
  }
}

/**
 * Whether a document the answer names has changed since the answer's position: the feed since then,
 * ids only. Past `maxChanges` changes the answer counts as changed without reading further.
 */
export async function namedDocumentChanged(store: Store, doc: QueryDoc, maxChanges = 10_000, signal?: AbortSignal): Promise<string | null> {
  const named = new Set(doc.ids);
  let since = doc.seq;
  for (let read = 0; read < maxChanges;) {
    const page = await store.changes({since, limit: 1000, signal});
    for (const change of page.results) if (named.has(change.id)) return `${change.id} changed`;
    read += page.results.length;
    if (page.results.length < 1000) return null;
    since = page.lastSeq;
  }
  return `more than ${maxChanges} changes`;
}
