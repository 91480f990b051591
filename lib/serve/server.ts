import type {FastifyInstance} from 'fastify';
import {ConfigError, UnavailableError} from '../errors/index.js';
import {CountsKeeper} from '../runtime/index.js';
import {createApp, type AppOptions} from './app.js';

export interface ServeOptions extends AppOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 8470 */
  port?: number;
  /**
   * Keep the stage counts while serving (the runtime's CountsKeeper, as `edw listen` does), so that a
   * status reading reads only the last seconds of the feed: ms between refreshes, 0 keeps none. Only
   * where the server stores no view reductions (embedded, pouchdb-server); it leaves the work to a
   * listener process that keeps them already. @default 2000
   */
  countsMs?: number;
}

/** A listening API server. */
export interface Server {
  /** Its root, `http://host:port`. */
  url: string;
  app: FastifyInstance;
  /** The stage counts keeper it runs (none with `countsMs: 0`): `refreshNow()` for tests. */
  counts: CountsKeeper | undefined;
  /** Stop listening (open requests end first) and keeping the counts (saved for the next reader); the store stays open. Idempotent. */
  close(): Promise<void>;
}

/** Build the API (createApp) and listen on `host:port`. */
export async function startServer(options: ServeOptions): Promise<Server> {
  const app = await createApp(options);
  const host = options.host ?? '127.0.0.1';
  try {
    await app.listen({host, port: options.port ?? 8470});
  } catch (error) {
    await app.close();
    const code = (error as NodeJS.ErrnoException).code;
    const where = `${host}:${options.port ?? 8470}`;
    if (code === 'EADDRINUSE') throw new UnavailableError(`cannot listen on ${where}: another process listens there (give another --port)`, {cause: error});
    if (code === 'EACCES') throw new ConfigError(`cannot listen on ${where}: permission denied (ports below 1024 need privileges)`, {cause: error});
    if (code === 'EADDRNOTAVAIL' || code === 'ENOTFOUND') throw new ConfigError(`cannot listen on ${where}: no such address on this machine`, {cause: error});
    throw error;
  }
  const address = app.server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  const counts = options.countsMs === 0 ? undefined : new CountsKeeper({store: options.store, log: options.log, firstCountsFrom: 'feed', ...(options.countsMs !== undefined ? {intervalMs: options.countsMs} : {})});
  await counts?.start();
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app,
    counts,
    close: () => (closing ??= (async () => {
      await app.close();
      await counts?.stop();
    })()),
  };
}
