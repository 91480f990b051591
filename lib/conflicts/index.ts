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
  /**
   * Documents the feed showed with more than one leaf revision that were not conflicted when read,
   * with when they were first seen (epoch ms): read again at each sweep for a while (see
   * ScanOptions.suspectMs). On a cluster a read answered by copies the losing branch has not reached
   * yet shows no `_conflicts`, and the copy that got it later may not be the one the feed reads.
   */
  suspects: Record<string, number>;
}

export function parseConflictsState(body: Record<string, unknown> | null): ConflictsState | undefined {
  if (!body || typeof body.owner !== 'string' || typeof body.at !== 'number' || typeof body.seq !== 'string' || !Array.isArray(body.ids)) return undefined;
  const suspects = typeof body.suspects === 'object' && body.suspects !== null && !Array.isArray(body.suspects)
    ? Object.fromEntries(Object.entries(body.suspects).filter((e): e is [string, number] => typeof e[1] === 'number')) : {};
  return {owner: body.owner, at: body.at, seq: body.seq, ids: body.ids.filter((id): id is string => typeof id === 'string'), suspects};
}

export interface ScanOptions {
  /** Feed position to read from. @default '0' */
  since?: string;
  /** Documents already known to be conflicted: looked at again whatever the feed shows. */
  known?: Iterable<string>;
  /** Suspects from earlier scans (id: first seen, epoch ms): looked at again until `suspectMs` after first seen. */
  suspects?: Record<string, number>;
  /** How long a document with several leaves but no conflict is read again at each scan. @default 300000 */
  suspectMs?: number;
  /** Epoch ms; for tests. @default Date.now() */
  now?: number;
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
  /** Documents with several leaves but no conflict now, to read again next time (id: first seen). */
  suspects: Record<string, number>;
  /** Whether the scan read the feed to its end (not stopped by `maxPages`). */
  complete: boolean;
}

/**
 * Read the feed from `since` with every leaf revision of each document (no document bodies): a
 * document with more than one leaf has, or once had, conflicts (CouchDB and PouchDB keep deleted
 * losing leaves); those, the known ones and the suspects are read with `conflicts=true` (one request
 * a page of ids) to tell which are conflicted now.
 */
export async function scanConflicts(store: Store, options: ScanOptions = {}): Promise<ScanResult> {
  const now = options.now ?? Date.now();
  const suspectMs = options.suspectMs ?? 300_000;
  const firstSeen = new Map<string, number>(Object.entries(options.suspects ?? {}).filter(([, at]) => now - at < suspectMs));
  const candidates = new Set([...(options.known ?? []), ...firstSeen.keys()]);
  let seq = options.since ?? '0';
  let complete = false;
  for (let pages = 0; pages < (options.maxPages ?? Infinity); pages++) {
    const page = await store.changes({since: seq, allLeaves: true, limit: options.pageSize ?? 1000, signal: options.signal});
    options.signal?.throwIfAborted();
    for (const change of page.results) {
      if ((change.leaves?.length ?? 0) > 1 && !change.id.startsWith('_design/')) {
        candidates.add(change.id);
        if (!firstSeen.has(change.id)) firstSeen.set(change.id, now);
      }
    }
    const moved = page.lastSeq !== seq;
    seq = page.lastSeq;
    // A short page is the end as of this read (with maxPages: no empty page after it).
    if (page.results.length === 0 || !moved || (options.maxPages !== undefined && page.results.length < (options.pageSize ?? 1000))) {
      complete = true;
      break;
    }
  }
  const conflicted: string[] = [];
  const suspects: Record<string, number> = {};
  const ids = [...candidates];
  for (let i = 0; i < ids.length; i += 200) {
    const page = ids.slice(i, i + 200);
    const docs = await store.getMany(page, options.signal, {conflicts: true});
    page.forEach((id, k) => {
      if (docs[k]?._conflicts?.length) conflicted.push(id);
      else if (docs[k] && firstSeen.has(id)) suspects[id] = firstSeen.get(id)!;
    });
  }
  return {seq, conflicted, suspects, complete};
}

/**
 * How many documents are conflicted right now. CouchDB stores view reductions: the `conflicts` view's
 * count. Elsewhere (PouchDB, pouchdb-server, where a view is built by whoever queries it, 0.5 ms a
 * document) the conflict keeper's saved list, brought up to the feed's end.
 */
export async function countConflicted(store: Store, options: {reductionsStored: boolean; signal?: AbortSignal}): Promise<number> {
  return (await conflictedNow(store, options)).count;
}

/**
 * The documents conflicted now, as countConflicted; with `maxPages`, the feed past the saved scan is
 * read for at most that many pages of 1,000 changes, and `complete` says whether it reached the end.
 */
export async function conflictedNow(store: Store, options: {reductionsStored: boolean; maxPages?: number; signal?: AbortSignal}): Promise<{count: number; complete: boolean}> {
  const {reductionsStored, signal} = options;
  if (reductionsStored) {
    const result = await store.query({design: DESIGN, view: 'conflicts', reduce: true, signal});
    return {count: Number(result.rows[0]?.value ?? 0), complete: true};
  }
  const saved = parseConflictsState(await store.getLocal(CONFLICTS_ID, signal));
  const scan = await scanConflicts(store, {since: saved?.seq, known: saved?.ids, suspects: saved?.suspects, signal, ...(options.maxPages !== undefined ? {maxPages: options.maxPages} : {})});
  // Saved for the next reader (a database no listener has run on reads its feed from 0 once), under
  // the keeper's name and time as they were, so that a keeper at work is not displaced.
  if (scan.seq !== saved?.seq) await saveConflictsState(store, {owner: saved?.owner ?? '', at: saved?.at ?? 0, seq: scan.seq, ids: scan.conflicted, suspects: scan.suspects}, signal);
  return {count: scan.conflicted.length, complete: scan.complete};
}

export async function saveConflictsState(store: Store, state: ConflictsState, signal?: AbortSignal): Promise<void> {
  await store.putLocal(CONFLICTS_ID, {...state}, signal);
}
