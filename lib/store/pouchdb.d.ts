// A local declaration of the part of PouchDB edw uses. @types/pouchdb declares a global `Buffer`
// interface that breaks Buffer typing on recent TypeScript (apache/pouchdb issue 8544).
declare module 'pouchdb' {
  interface PouchError extends Error {
    status?: number;
    name: string;
    reason?: string;
  }
  interface ChangesEmitter {
    on(event: 'change' | 'complete' | 'error', listener: (arg: any) => void): ChangesEmitter;
    cancel(): void;
  }
  class PouchDB {
    static plugin(plugin: Record<string, unknown>): typeof PouchDB;
    constructor(name: string, options?: Record<string, unknown>);
    info(): Promise<{doc_count: number; update_seq: number | string}>;
    get(id: string, options?: Record<string, unknown>): Promise<any>;
    put(doc: object): Promise<{id: string; rev: string}>;
    bulkDocs(docs: object[], options?: Record<string, unknown>): Promise<any[]>;
    allDocs(options?: Record<string, unknown>): Promise<{rows: any[]}>;
    changes(options: Record<string, unknown> & {live: true}): ChangesEmitter;
    changes(options?: Record<string, unknown>): Promise<{results: any[]; last_seq: number | string}>;
    query(view: string, options?: Record<string, unknown>): Promise<{rows: any[]}>;
    close(): Promise<void>;
    destroy(): Promise<void>;
    // pouchdb-find's
    find(request: Record<string, unknown>): Promise<{docs: any[]; warning?: string}>;
    explain(request: Record<string, unknown>): Promise<any>;
    createIndex(request: Record<string, unknown>): Promise<{result: string}>;
  }
  export default PouchDB;
}

declare module 'pouchdb-abstract-mapreduce' {
  interface MapReduce {
    query(this: unknown, fun: unknown, opts: unknown, callback?: unknown): unknown;
    viewCleanup(this: unknown, callback?: unknown): unknown;
  }
  export default function createAbstractMapReduce(
    localDocName: string,
    mapper: (mapFun: unknown, emit: (key: unknown, value: unknown) => void) => (doc: unknown) => unknown,
    reducer: (reduceFun: unknown) => (keys: unknown, values: unknown[], rereduce: boolean) => unknown,
    ddocValidator: (ddoc: any, viewName: string) => void,
  ): MapReduce;
}

declare module 'pouchdb-find' {
  const plugin: Record<string, unknown>;
  export default plugin;
}
