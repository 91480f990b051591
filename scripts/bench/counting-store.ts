/**
 * A Store that counts the calls made through it and the time they take, to see where an orchestrator's
 * time per step goes. It changes nothing: every call goes to the wrapped store as it is.
 */
import type {ChangesPage, ChangesParams, Doc, FindParams, FindPlan, FindResult, GetOptions, IndexSpec, Store, StoreInfo, ViewParams, ViewResult, WriteOutcome} from '../../lib/store/index.js';
import {now} from './stats.js';

/** Calls of one kind: how many, how many documents or rows they carried, and their summed duration. */
export interface CallCount {
  calls: number;
  /** Documents written, rows or changes returned. */
  items: number;
  /** Sum of the calls' durations; concurrent calls overlap, so sums can exceed wall time. */
  ms: number;
}

/** Call kinds, named for what they cost: a long-poll feed read is not a one-shot one, a reduce is not a row read. */
export type CallKind =
  | 'changes' | 'changes long-poll' | 'query' | 'query reduce' | 'get' | 'getMany' | 'put' | 'bulkWrite'
  | 'getLocal' | 'putLocal' | 'info' | 'find' | 'other';

export class CountingStore implements Store {
  readonly counts = new Map<CallKind, CallCount>();
  readonly #inner: Store;

  constructor(inner: Store) {
    this.#inner = inner;
  }

  get kind(): Store['kind'] {
    return this.#inner.kind;
  }

  get location(): string {
    return this.#inner.location;
  }

  /** The counts as a plain object, for JSON. */
  snapshot(): Record<string, CallCount> {
    return Object.fromEntries([...this.counts].map(([k, v]) => [k, {...v}]));
  }

  reset(): void {
    this.counts.clear();
  }

  async #count<T>(kind: CallKind, call: () => Promise<T>, items: (value: T) => number): Promise<T> {
    const start = now();
    let value: T;
    try {
      value = await call();
    } finally {
      const entry = this.counts.get(kind) ?? {calls: 0, items: 0, ms: 0};
      entry.calls++;
      entry.ms += now() - start;
      this.counts.set(kind, entry);
    }
    this.counts.get(kind)!.items += items(value);
    return value;
  }

  create(): Promise<boolean> {
    return this.#count('other', () => this.#inner.create(), () => 0);
  }

  info(signal?: AbortSignal): Promise<StoreInfo> {
    return this.#count('info', () => this.#inner.info(signal), () => 0);
  }

  get(id: string, options?: GetOptions): Promise<Doc | null> {
    return this.#count('get', () => this.#inner.get(id, options), (doc) => (doc ? 1 : 0));
  }

  getMany(ids: string[], signal?: AbortSignal): Promise<(Doc | null)[]> {
    return this.#count('getMany', () => this.#inner.getMany(ids, signal), (docs) => docs.length);
  }

  put(doc: Doc, signal?: AbortSignal): Promise<string> {
    return this.#count('put', () => this.#inner.put(doc, signal), () => 1);
  }

  bulkWrite(docs: Doc[], signal?: AbortSignal): Promise<WriteOutcome[]> {
    return this.#count('bulkWrite', () => this.#inner.bulkWrite(docs, signal), () => docs.length);
  }

  writeRevisions(docs: Doc[], signal?: AbortSignal): Promise<void> {
    return this.#count('other', () => this.#inner.writeRevisions(docs, signal), () => docs.length);
  }

  changes(params: ChangesParams): Promise<ChangesPage> {
    const kind = (params.waitMs ?? 0) > 0 ? 'changes long-poll' : 'changes';
    return this.#count(kind, () => this.#inner.changes(params), (page) => page.results.length);
  }

  query(params: ViewParams): Promise<ViewResult> {
    // A view with a reduce reduces unless told not to (the stage view has one; claims has none).
    const kind = params.reduce === false || params.view !== 'stage' ? 'query' : 'query reduce';
    return this.#count(kind, () => this.#inner.query(params), (result) => result.rows.length);
  }

  find(params: FindParams): Promise<FindResult> {
    return this.#count('find', () => this.#inner.find(params), (result) => result.docs.length);
  }

  explain(params: FindParams): Promise<FindPlan> {
    return this.#count('other', () => this.#inner.explain(params), () => 0);
  }

  createIndex(spec: IndexSpec): Promise<boolean> {
    return this.#count('other', () => this.#inner.createIndex(spec), () => 0);
  }

  getLocal(id: string, signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    return this.#count('getLocal', () => this.#inner.getLocal(id, signal), () => 0);
  }

  putLocal(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.#count('putLocal', () => this.#inner.putLocal(id, body, signal), () => 1);
  }

  close(): Promise<void> {
    return this.#inner.close();
  }

  destroy(): Promise<void> {
    return this.#inner.destroy();
  }
}
