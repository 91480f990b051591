import {createServer} from 'node:http';
import type {Registry} from 'prom-client';
import {ConfigError, UnavailableError} from '../errors/index.js';

/** A listening `/metrics` endpoint. */
export interface MetricsServer {
  /** `http://host:port/metrics`. */
  url: string;
  /** Stop listening. Idempotent. */
  close(): Promise<void>;
}

/** Serve `registry` in Prometheus' text format at `GET /metrics` on `host:port` (what `edw listen --metrics-port` runs). */
export async function startMetricsServer(registry: Registry, options: {host?: string; port: number}): Promise<MetricsServer> {
  const host = options.host ?? '127.0.0.1';
  const server = createServer((request, response) => {
    if (request.method !== 'GET' || request.url?.split('?')[0] !== '/metrics') {
      response.writeHead(404, {'content-type': 'text/plain'}).end('only GET /metrics here\n');
      return;
    }
    registry.metrics().then(
      (text) => response.writeHead(200, {'content-type': registry.contentType}).end(text),
      (error: unknown) => response.writeHead(503, {'content-type': 'text/plain'}).end(`metrics could not be read: ${(error as Error).message.split('\n')[0]}\n`),
    );
  });
  await new Promise<void>((resolve, reject) => {
    server.once('error', (error: NodeJS.ErrnoException) => {
      const where = `${host}:${options.port}`;
      reject(error.code === 'EADDRINUSE' ? new UnavailableError(`--metrics-port: cannot listen on ${where}: another process listens there`, {cause: error})
        : error.code === 'EACCES' ? new ConfigError(`--metrics-port: cannot listen on ${where}: permission denied`, {cause: error}) : error);
    });
    server.listen(options.port, host, () => resolve());
  });
  const address = server.address();
  const port = typeof address === 'object' && address ? address.port : options.port;
  let closing: Promise<void> | undefined;
  return {
    url: `http://${host}:${port}/metrics`,
    close: () => (closing ??= new Promise((resolve) => {
      server.close(() => resolve());
      server.closeAllConnections();
    })),
  };
}
