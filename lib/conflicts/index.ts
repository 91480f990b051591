/**
 * Finding documents with replication conflicts. On a CouchDB cluster two writers can both succeed
 * against one revision on different copies while a node is down or catching up; the loser surfaces
 * later as `_conflicts`, on a document at any stage. Listeners merge what their feed shows them; the
 * conflict keeper (lib/runtime/conflict-keeper.ts) finds the rest here, and `edw status` counts them.
 */
import {DESIGN} from '../design/index.js';
import type {Store} from '../store/index.js';

/** `_local` document of the conflict keeper: who keeps it, when it last did, how far it read the feed, what it left conflicted. */
export const CONFLICTS_ID = 'edw-conflicts';

/** What `_local/edw-conflicts` holds. */
export interface ConflictsState {
  /** The process that last swept (its claim owner). */
  owner: string;
  /** When it last swept (epoch ms). */
  at: number;
  /** Feed position it has read to (opaque). */
  seq: string;
  /** Documents that were conflicted at that position and not merged yet. */
  ids: string[];
}

export function parseConflictsState(body: Record<string, unknown> | null): ConflictsState | undefined {
  if (!body || typeof body.owner !== 'string' || typeof body.at !== 'number' || typeof body.seq !== 'string' || !Array.isArray(body.ids)) return undefined;
  return {owner: body.owner, at: body.at, seq: body.seq, ids: body.ids.filter((id): id is string => typeof id === 'string')};
}

export interface ScanOptions {
  /** Feed position to read from. @default '0' */
  since?: string;
  /** Documents already known to be conflicted: looked at again whatever the feed shows. */
  known?: Iterable<string>;
  /** Changes per request. @default 1000 */
  pageSize?: number;
  /** Stop reading after this many pages (the rest is read next time). @default no limit */
  maxPages?: number;
  signal?: AbortSignal;
}

/** The documents conflicted now among those the feed showed since `since` (and `known`), and where the feed was read to. */
export interface ScanResult {
  seq: string;
  conflicted: string[];
  /** Whether the feed was read to its end (false when `maxPages` cut it short). */
  complete: boolean;
}

/**
 * Read the feed from `since` with every leaf revision of each document (no document bodies): a
 * document with more than one leaf has, or once had, conflicts (CouchDB and PouchDB keep deleted
 * losing leaves); each such one is read with `conflicts=true` to tell which still are.
 */
export async function scanConflicts(store: Store, options: ScanOptions = {}): Promise<ScanResult> {
  const candidates = new Set(options.known ?? []);
  let seq = options.since ?? '0';
  let complete = false;
  for (let pages = 0; pages < (options.maxPages ?? Infinity); pages++) {
    const page = await store.changes({since: seq, allLeaves: true, limit: options.pageSize ?? 1000, signal: options.signal});
    options.signal?.throwIfAborted();
    for (const change of page.results) {
      if ((change.leaves?.length ?? 0) > 1) candidates.add(change.id);
    }
    const moved = page.lastSeq !== seq;
    seq = page.lastSeq;
    if (page.results.length === 0 || !moved) {
      complete = true;
      break;
    }
  }
  const conflicted: string[] = [];
  for (const id of candidates) {
    const doc = await store.get(id, {conflicts: true, signal: options.signal});
    if (doc?._conflicts?.length) conflicted.push(id);
  }
  return {seq, conflicted, complete};
}

/**
 * How many documents are conflicted right now. CouchDB stores view reductions: the `conflicts` view's
 * count. Elsewhere (PouchDB, pouchdb-server, where a view is built by whoever queries it, 0.5 ms a
 * document) the conflict keeper's saved list, brought up to the feed's end.
 */
export async function countConflicted(store: Store, signal?: AbortSignal): Promise<number> {
  const {reductionsStored} = await store.info(signal);
  if (reductionsStored) {
    const result = await store.query({design: DESIGN, view: 'conflicts', reduce: true, signal});
    return Number(result.rows[0]?.value ?? 0);
  }
  const saved = parseConflictsState(await store.getLocal(CONFLICTS_ID, signal));
  const scan = await scanConflicts(store, {since: saved?.seq, known: saved?.ids, signal});
  // Saved for the next reader (a database no listener has run on reads its feed from 0 once), under
  // the keeper's name and time as they were, so that a keeper at work is not displaced.
  if (scan.seq !== saved?.seq) await saveConflictsState(store, {owner: saved?.owner ?? '', at: saved?.at ?? 0, seq: scan.seq, ids: scan.conflicted}, signal);
  return scan.conflicted.length;
}

export async function saveConflictsState(store: Store, state: ConflictsState, signal?: AbortSignal): Promise<void> {
  await store.putLocal(CONFLICTS_ID, {...state}, signal);
}
