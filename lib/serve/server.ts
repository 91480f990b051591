import type {FastifyInstance} from 'fastify';
import {ConfigError, UnavailableError} from '../errors/index.js';
import {createApp, type AppOptions} from './app.js';

export interface ServeOptions extends AppOptions {
  /** Address to listen on. @default '127.0.0.1' */
  host?: string;
  /** Port to listen on; 0 picks a free one. @default 8470 */
  port?: number;
}

/** A listening API server. */
export interface Server {
  /** Its root, `http://host:port`. */
  url: string;
  app: FastifyInstance;
  /** Stop listening (open requests end first); the store stays open. Idempotent. */
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
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host.includes(':') ? `[${host}]` : host}:${port}`,
    app,
    close: () => (closing ??= app.close()),
  };
}
