import {Command} from 'commander';
import {ConfigError} from '../errors/index.js';
import {startServer, OPENAPI_PATH} from '../serve/index.js';
import {CouchAuth, isServerUrl, openStore} from '../store/index.js';
import {globals, type CliState} from './command.js';
import {makeLogger, readConfig} from './context.js';
import {numberOption} from './options.js';
import {packageVersion} from './version.js';

export function serveCommand(state: CliState): Command {
  return new Command('serve')
    .description('serve the HTTP API (/api/v1: status, documents, detections, listeners, retry, events), the web page at / and /metrics over the database until stopped')
    .option('--port <port>', 'port to listen on, 0 for any free one (default: [serve] port, 8470)', numberOption('--port', {min: 0}))
    .option('--host <host>', 'address to listen on (default: [serve] host, 127.0.0.1)')
    .action(async (options: {port?: number; host?: string}, command: Command) => {
      const {io} = state;
      const global = globals(command);
      const config = readConfig(global, io);
      if (options.port !== undefined && options.port > 65535) throw new ConfigError(`--port ${options.port}: expected a port number, 0 to 65535`);
      const log = makeLogger(config, global, io);
      const host = options.host ?? config.serve.host;
      // A signal before the server is up stops it as soon as it is.
      let stop: (signal: NodeJS.Signals) => void = () => {};
      const stopped = new Promise<NodeJS.Signals>((resolve) => (stop = resolve));
      process.on('SIGINT', stop);
      process.on('SIGTERM', stop);
      try {
        // Shared like a listener's: other edw commands on this machine reach an embedded database through this process.
        const store = await openStore({...config.database, share: true});
        try {
          const server = await startServer({
            store, log, chain: config.steps, host, port: options.port ?? config.serve.port,
            forgetAfterMs: config.listen.forgetAfterMs, countsMs: config.listen.countsMs, version: packageVersion(), operatorRole: config.serve.operatorRole,
            // On a server, its users and roles decide who reads and who operates.
            ...(isServerUrl(config.database.url) ? {couchAuth: new CouchAuth({...config.database, requestTimeoutMs: Math.min(config.database.requestTimeoutMs, 10_000)})} : {}),
            ...(config.serve.operatorToken !== undefined ? {operatorToken: config.serve.operatorToken} : {}),
            ...(config.serve.trustProxy !== undefined ? {trustProxy: config.serve.trustProxy} : {}),
          });
          if (!isServerUrl(config.database.url) && !/^(127\.|::1$|localhost$)/.test(host)) {
            log.warn('reading needs no login on the embedded database, and this server listens beyond loopback', {host});
          }
          io.err(`serving ${store.location} on ${server.url} (API ${server.url}/api/v1, OpenAPI ${server.url}${OPENAPI_PATH}); Ctrl-C stops`);
          log.info('stopping', {signal: await stopped});
          await server.close();
        } finally {
          await store.close();
        }
      } finally {
        process.off('SIGINT', stop);
        process.off('SIGTERM', stop);
      }
    });
}
