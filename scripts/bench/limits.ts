/**
 * The database's own limits, measured through the Store interface so that both backends run the same
 * code, on a fresh database without design documents (no validation, no views):
 * - bulk insert: documents of about 400 bytes in `_bulk_docs` batches of 1,000, one batch at a time;
 * - single update: get + put of one document (read-modify-write), on distinct documents so nothing
 *   conflicts, with 1 and with 32 in flight, each for a fixed time;
 * - changes read: the whole `_changes` feed from 0 in pages of 1,000, without documents, one page at a time;
 * - and, apart from the limits, the 32-in-flight update again once edw's design documents are in the
 *   database: what every write of edw's pays for validate_doc_update (run by PouchStore on the
 *   embedded database, by the server otherwise).
 */
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../../lib/design/index.js';
import type {Store} from '../../lib/store/index.js';
import {processCpuSeconds} from './backends.js';
import {benchId, dataFileDoc} from './documents.js';
import {now, perSecond} from './stats.js';

export interface LimitOptions {
  /** Documents bulk-inserted (and then updated and read back). @default 20000 */
  docs?: number;
  /** Documents per `_bulk_docs` request. @default 1000 */
  batchSize?: number;
  /** How long each single-update run lasts, in ms. @default 5000 */
  updateMs?: number;
  /** Changes per `_changes` page. @default 1000 */
  pageSize?: number;
  /** The server's process, when it runs on this machine: its CPU per update is measured too. */
  serverPid?: number;
}

export interface LimitFigures {
  bulk_insert_docs_per_s: number;
  single_update_per_s_c1: number;
  single_update_per_s_c32: number;
  changes_per_s: number;
  /** 32 in flight, with edw's validate_doc_update in the database. */
  single_update_per_s_c32_validated: number;
  /** The server's CPU ms (its children included) per get+put at 32 in flight, without and with validation; undefined when unreadable. */
  server_cpu_ms_per_update_c32?: number;
  server_cpu_ms_per_update_c32_validated?: number;
  /** Method details, for the report. */
  limit_docs: number;
  changes_read: number;
}

/** Insert `count` documents in batches; docs/s over the whole run. */
export async function bulkInsert(store: Store, count: number, batchSize: number, prefix = 'limit'): Promise<number> {
  const start = now();
  for (let first = 0; first < count; first += batchSize) {
    const docs = [];
    for (let i = first; i < Math.min(count, first + batchSize); i++) docs.push(dataFileDoc(i, {prefix}));
    const outcomes = await store.bulkWrite(docs);
    const refused = outcomes.find((o) => !o.ok);
    if (refused) throw new Error(`bulk insert: ${refused.id} was refused: ${refused.ok ? '' : refused.reason}`);
  }
  return perSecond(count, now() - start);
}

/**
 * Read-modify-write updates with `concurrency` in flight for `durationMs`: each worker takes its own
 * documents in turn (worker w: ids w, w + c, w + 2c, ...), reads one and writes it back changed.
 */
export async function singleUpdates(store: Store, ids: string[], concurrency: number, durationMs: number): Promise<number> {
  return (await countedUpdates(store, ids, concurrency, durationMs)).perSecond;
}

async function countedUpdates(store: Store, ids: string[], concurrency: number, durationMs: number): Promise<{perSecond: number; updates: number}> {
  let done = 0;
  const start = now();
  const end = start + durationMs;
  const worker = async (w: number): Promise<void> => {
    for (let k = w; now() < end; k += concurrency) {
      const id = ids[k % ids.length]!;
      const doc = await store.get(id);
      if (!doc) throw new Error(`single update: ${id} is missing`);
      await store.put({...doc, updates: Number(doc.updates ?? 0) + 1});
      done++;
    }
  };
  await Promise.all(Array.from({length: concurrency}, (_, w) => worker(w)));
  return {perSecond: perSecond(done, now() - start), updates: done};
}

/** Updates at 32 in flight, with the server's CPU ms per update when its process can be read. */
async function updatesWithCpu(store: Store, ids: string[], durationMs: number, serverPid: number | undefined): Promise<{perSecond: number; cpuMs?: number}> {
  const before = await processCpuSeconds(serverPid);
  const run = await countedUpdates(store, ids, 32, durationMs);
  const after = await processCpuSeconds(serverPid);
  const cpuMs = before === undefined || after === undefined || run.updates === 0 ? undefined : ((after - before) * 1000) / run.updates;
  return {perSecond: run.perSecond, cpuMs};
}

/** Read the whole feed from 0, one page at a time; changes/s and how many were read. */
export async function readChanges(store: Store, pageSize: number, includeDocs = false): Promise<{perSecond: number; changes: number}> {
  let since = '0';
  let changes = 0;
  const start = now();
  for (;;) {
    const page = await store.changes({since, limit: pageSize, includeDocs});
    changes += page.results.length;
    since = page.lastSeq;
    if (page.results.length < pageSize) break;
  }
  return {perSecond: perSecond(changes, now() - start), changes};
}

/** All four limits on one fresh store (which ends up holding `docs` documents). */
export async function measureLimits(store: Store, options: LimitOptions = {}): Promise<LimitFigures> {
  const o = {docs: 20_000, batchSize: 1000, updateMs: 5000, pageSize: 1000, ...options};
  const bulk = await bulkInsert(store, o.docs, o.batchSize);
  const ids = Array.from({length: o.docs}, (_, i) => benchId(i, 'limit'));
  const c1 = await singleUpdates(store, ids, 1, o.updateMs);
  const c32 = await updatesWithCpu(store, ids, o.updateMs, o.serverPid);
  const changes = await readChanges(store, o.pageSize);
  await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
  const validated = await updatesWithCpu(store, ids, o.updateMs, o.serverPid);
  return {
    bulk_insert_docs_per_s: bulk, single_update_per_s_c1: c1, single_update_per_s_c32: c32.perSecond, changes_per_s: changes.perSecond,
    single_update_per_s_c32_validated: validated.perSecond,
    server_cpu_ms_per_update_c32: c32.cpuMs, server_cpu_ms_per_update_c32_validated: validated.cpuMs,
    limit_docs: o.docs, changes_read: changes.changes,
  };
}
