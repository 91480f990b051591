import {mkdir, stat} from 'node:fs/promises';
import {dirname, resolve} from 'node:path';
import {ConfigError, NotFoundError} from '../errors/index.js';
import {CouchStore} from './couch-store.js';
import {PouchStore} from './pouch-store.js';
import {readShareFile, SharedStore, shareStore} from './share.js';
import {storageError} from './storage-error.js';
import type {Store} from './types.js';

export interface OpenStoreOptions {
  /** `http(s)://host:port/db` for a server, otherwise a folder for the embedded database. */
  url: string;
  user?: string;
  password?: string;
  /** Create the database when missing (else a missing database is a NotFoundError). @default false */
  create?: boolean;
  /**
   * Embedded only: serve the database to other edw commands while this process holds it (what a
   * long-running `edw listen` does). @default false
   */
  share?: boolean;
  /** Server only: see CouchStoreOptions.requestTimeoutMs. */
  requestTimeoutMs?: number;
}

/** Whether a database setting names a server rather than an embedded folder. */
export function isServerUrl(url: string): boolean {
  return /^https?:\/\//i.test(url);
}

/** Open the configured database: a server, the embedded folder, or the process that holds that folder. */
export async function openStore(options: OpenStoreOptions): Promise<Store> {
  // resolve('') is the working directory: an empty setting would create a database wherever the command ran.
  if (!options.url.trim()) throw new ConfigError('the database location is empty: name a folder for the embedded database or an http(s):// server URL');
  if (isServerUrl(options.url)) {
    const store = new CouchStore(options);
    try {
      if (options.create) await store.create();
      await store.info();
    } catch (error) {
      await store.close();
      if (error instanceof NotFoundError) throw new NotFoundError(`no database at ${store.location} (run 'edw init' to create it)`, {cause: error});
      throw error;
    }
    return store;
  }
  const folder = resolve(options.url);
  const shared = await readShareFile(folder);
  if (shared) {
    const store = new SharedStore(folder, shared, options.requestTimeoutMs);
    await store.ping();
    return store;
  }
  if (options.create) {
    // LevelDB makes the database's own folder, not its parents: without them it fails on its LOCK file.
    await mkdir(dirname(folder), {recursive: true}).catch(async (error: unknown) => {
      throw await storageError(folder, error, 'create');
    });
  } else {
    // Commands other than init (and demo) need the design documents that init pushes, so a missing
    // folder is not made here: it is named, with the command that makes it.
    await stat(folder).catch(async (error: unknown) => {
      throw await storageError(folder, error, 'open');
    });
  }
  const store = new PouchStore(folder);
  try {
    await store.info();
  } catch (error) {
    await store.close().catch(() => {});
    throw error;
  }
  if (!options.share) return store;
  const stopSharing = await shareStore(store, folder);
  const close = store.close.bind(store);
  store.close = async () => {
    await stopSharing();
    await close();
  };
  // Without this, destroying a shared database left its server listening (the process never exited)
  // and its share file in the folder, naming a live pid, so the next open went to a destroyed store.
  const destroy = store.destroy.bind(store);
  store.destroy = async () => {
    await stopSharing();
    await destroy();
  };
  return store;
}
