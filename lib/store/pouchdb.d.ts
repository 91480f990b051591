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
  }
  export default PouchDB;
}
