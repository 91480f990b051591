/**
 * The chaos run's witness: a watcher on the database's own feed and the ledger of every completed entry
 * it saw, which counts entries that vanished, steps with two completions of record, and re-executions
 * marked as superseded.
 */
import {setTimeout as delay} from 'node:timers/promises';
import {isCompleted, isDataFile, isOfRecord, isSuperseded, stageOf, withoutMark, type DataFileDoc, type ProcessEntry} from '../../lib/pipeline/index.js';
import type {CouchServer} from '../support/couch-server.js';

/** An entry's identity: its JSON, without the mark a merge may add to a completion it supersedes. */
function entryKey(entry: ProcessEntry): string {
  return JSON.stringify(withoutMark(entry));
}

/**
 * Every completed entry seen of each document, checked against each later revision and against the
 * final state: an entry missing from a later revision is `vanished` (on a CouchDB cluster the winning
 * revision can flip to a conflict's other branch until the branches are merged); one missing from the
 * final state (or whose document is gone) is lost. An entry marked superseded since is the same entry.
 * Two completions of record (completed, not marked superseded) for one step and version in any
 * revision make a double completion. A re-execution that a merge marked as superseded is counted apart:
 * at least once is the promise, one completion of record per step and version is the guarantee.
 */
export class EntryLedger {
  /** Per document: completed entries seen (JSON of the entry). */
  readonly #seen = new Map<string, Set<string>>();
  /** `id entry-json` of each entry a later revision did not show. */
  readonly vanished = new Set<string>();
  /** `id entry-json` of each entry missing from the final state (see `settle`). */
  readonly lost = new Set<string>();
  /** Ids of documents that ever held two completions of record for one step and version. */
  readonly doubles = new Set<string>();
  /** `id entry-json` of each completed entry seen marked as superseded (a re-execution, kept as history). */
  readonly superseded = new Set<string>();
  /** Ids of documents seen at the final stage. */
  readonly atFinal = new Set<string>();
  /** Distinct completed entries seen. */
  completions = 0;

  constructor(readonly finalStage: string) {}

  /** Whether the ledger tracks this document (it has held a `process` array). */
  tracks(id: string): boolean {
    return this.#seen.has(id);
  }

  /** Check one revision of a document against everything seen of it before. */
  observe(id: string, doc: DataFileDoc | undefined, deleted: boolean): void {
    let known = this.#seen.get(id);
    if (!known) this.#seen.set(id, (known = new Set()));
    const present = new Set<string>();
    if (doc && !deleted && isDataFile(doc)) {
      const perStep = new Map<string, number>();
      for (const entry of doc.process) {
        // Present whatever a later revision says of it (a merge may mark a completion superseded).
        const key = entryKey(entry);
        present.add(key);
        if (!isCompleted(entry)) continue;
        const step = `${entry.name}|${entry.version ?? ''}`;
        if (isOfRecord(entry)) perStep.set(step, (perStep.get(step) ?? 0) + 1);
        if (isSuperseded(entry)) this.superseded.add(`${id} ${key}`);
        if (!known.has(key)) {
          known.add(key);
          this.completions++;
        }
      }
      if ([...perStep.values()].some((n) => n > 1)) this.doubles.add(id);
      if (stageOf(doc) === this.finalStage) this.atFinal.add(id);
    }
    for (const key of known) if (!present.has(key)) this.vanished.add(`${id} ${key}`);
  }

  /** The final state of a document (undefined: gone): every entry ever seen of it must be there. */
  settle(id: string, doc: DataFileDoc | undefined): void {
    this.observe(id, doc, doc === undefined);
    const present = new Set((doc && isDataFile(doc) ? doc.process : []).map(entryKey));
    for (const key of this.#seen.get(id) ?? []) if (!present.has(key)) this.lost.add(`${id} ${key}`);
  }

  /** Ids of every document the ledger tracks. */
  ids(): string[] {
    return [...this.#seen.keys()];
  }
}

/** Follows the database's `_changes` (include_docs) from 0 until stopped, through server restarts, into a ledger. */
export class FeedWatcher {
  readonly ledger: EntryLedger;
  #since = '0';
  #stopped = false;
  #loop: Promise<void> | undefined;
  readonly #server: CouchServer;
  readonly #db: string;
  readonly #onProgress: () => void;

  constructor(server: CouchServer, db: string, finalStage: string, onProgress: () => void) {
    this.ledger = new EntryLedger(finalStage);
    this.#server = server;
    this.#db = db;
    this.#onProgress = onProgress;
  }

  start(): void {
    this.#loop = this.#run();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    await this.#loop;
  }

  async #run(): Promise<void> {
    while (!this.#stopped) {
      try {
        // A normal feed polled, not a long-poll: pouchdb-server holds an idle long-poll past its timeout,
        // which would hold up stop().
        const query = `include_docs=true&limit=500&since=${encodeURIComponent(this.#since)}`;
        const {status, body} = await this.#server.request('GET', `${encodeURIComponent(this.#db)}/_changes?${query}`);
        if (status !== 200) throw new Error(`_changes answered HTTP ${status}`);
        for (const change of body.results as Array<{id: string; deleted?: boolean; doc?: DataFileDoc}>) {
          if (change.id.startsWith('_design/') || (!(change.doc && 'process' in change.doc) && !this.ledger.tracks(change.id))) continue;
          this.ledger.observe(change.id, change.doc, !!change.deleted);
        }
        this.#since = typeof body.last_seq === 'string' ? body.last_seq : JSON.stringify(body.last_seq);
        if (body.results.length > 0) this.#onProgress();
        else await delay(100);
      } catch {
        // The server is down or restarting: look again soon; the position is kept.
        await delay(200);
      }
    }
  }
}
