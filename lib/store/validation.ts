import type {Doc} from './types.js';

/** A compiled validate_doc_update: throws `{forbidden}` or `{unauthorized}` to refuse a write. */
type Validate = (newDoc: Doc, oldDoc: Doc | null, userCtx: object, secObj: object) => void;

/** What a validation refusal says, or null when every design document accepts the write. */
export type Verdict = string | null;

// edw's own writes on an embedded database: a local user with no roles, as a non-admin writer on CouchDB.
const USER_CTX = {db: 'embedded', name: null, roles: []};

function compile(source: string, id: string): Validate {
  try {
    return new Function(`"use strict"; return (${source});`)() as Validate;
  } catch (error) {
    throw new Error(`${id} validate_doc_update does not compile: ${(error as Error).message}`);
  }
}

/**
 * The design documents' validate_doc_update functions of a database, run on writes where the
 * database itself runs none (PouchDB), so that the embedded database refuses what CouchDB refuses.
 */
export class Validators {
  #loaded: Array<{id: string; validate: Validate}> | undefined;

  /** Load from the design documents (on first use, and after a design document was written). */
  async ensure(read: () => Promise<Doc[]>): Promise<void> {
    if (this.#loaded) return;
    this.#loaded = (await read())
      .filter((doc) => typeof doc.validate_doc_update === 'string')
      .map((doc) => ({id: doc._id, validate: compile(doc.validate_doc_update as string, doc._id)}));
  }

  /** Forget the loaded functions (a design document changed). */
  invalidate(): void {
    this.#loaded = undefined;
  }

  get active(): boolean {
    return (this.#loaded?.length ?? 0) > 0;
  }

  check(newDoc: Doc, oldDoc: Doc | null): Verdict {
    for (const {validate} of this.#loaded ?? []) {
      try {
        validate(newDoc, oldDoc, USER_CTX, {});
      } catch (error) {
        const e = error as {forbidden?: unknown; unauthorized?: unknown};
        if (e && typeof e === 'object' && (e.forbidden !== undefined || e.unauthorized !== undefined)) return String(e.forbidden ?? e.unauthorized);
        return `validation failed: ${(error as Error)?.message ?? String(error)}`;
      }
    }
    return null;
  }
}
