import {randomBytes} from 'node:crypto';
import {createServer, type IncomingMessage, type ServerResponse} from 'node:http';
import {readFile, rm, writeFile} from 'node:fs/promises';
import {join} from 'node:path';
import {AuthError, ConfigError, ConflictError, EdwError, ForbiddenError, NotFoundError, UnavailableError} from '../errors/index.js';
import {manyListeners, withDeadline} from './deadline.js';
import type {ChangesPage, ChangesParams, Doc, FindParams, FindPlan, FindResult, GetOptions, IndexSpec, Store, StoreInfo, ViewParams, ViewResult, WriteOutcome} from './types.js';

/** Name of the file, inside the embedded database's folder, that tells other edw commands where it is served. */
export const SHARE_FILE = 'edw-share.json';

export interface ShareInfo {
  url: string;
  token: string;
  pid: number;
}

const METHODS = ['info', 'get', 'getMany', 'put', 'bulkWrite', 'writeRevisions', 'changes', 'query', 'find', 'explain', 'createIndex', 'getLocal', 'putLocal'] as const;
type Method = (typeof METHODS)[number];

const ERRORS: Record<string, new (message: string) => Error> = {
  ConflictError, ForbiddenError, NotFoundError, UnavailableError, AuthError, ConfigError, EdwError,
};

function readBody(req: IncomingMessage): Promise<string> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => resolve(Buffer.concat(chunks).toString('utf8')));
    req.on('error', reject);
  });
}

/**
 * Serve an open embedded database to other edw commands on this machine (LevelDB lets one process
 * open a folder). Loopback only, with a random token kept in a file readable by its owner alone.
 * Returns a function that stops serving and removes the file.
 */
export async function shareStore(store: Store, folder: string): Promise<() => Promise<void>> {
  const token = randomBytes(24).toString('hex');
  const server = createServer((req, res) => void answer(req, res));
  const open = new Set<ServerResponse>();

  async function answer(req: IncomingMessage, res: ServerResponse): Promise<void> {
    open.add(res);
    const controller = new AbortController();
    res.on('close', () => {
      open.delete(res);
      controller.abort();
    });
    const reply = (status: number, body: unknown): void => {
      res.writeHead(status, {'content-type': 'application/json'});
      res.end(JSON.stringify(body));
    };
    if (req.headers.authorization !== `Bearer ${token}`) return reply(401, {error: {name: 'AuthError', message: 'bad token'}});
    if (req.method === 'GET' && req.url === '/ping') return reply(200, {ok: true, pid: process.pid});
    const method = req.url?.slice(1) as Method;
    if (req.method !== 'POST' || !METHODS.includes(method)) return reply(404, {error: {name: 'EdwError', message: 'no such call'}});
    try {
      const args = JSON.parse(await readBody(req)) as unknown[];
      const last = args[args.length - 1];
      // The caller's abort reaches the store: a long-poll ends when its client goes away.
      if (method === 'changes' || method === 'query' || method === 'find') (last as {signal?: AbortSignal}).signal = controller.signal;
      const result = await (store[method] as (...a: unknown[]) => Promise<unknown>).apply(store, args);
      reply(200, {result: result ?? null});
    } catch (error) {
      const e = error as Error;
      reply(200, {error: {name: e.name in ERRORS ? e.name : 'EdwError', message: e.message}});
    }
  }

  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => resolve());
  });
  const address = server.address();
  if (!address || typeof address === 'string') throw new EdwError('could not serve the embedded database');
  const info: ShareInfo = {url: `http://127.0.0.1:${address.port}`, token, pid: process.pid};
  const file = join(folder, SHARE_FILE);
  await writeFile(file, JSON.stringify(info), {mode: 0o600});
  let stopped: Promise<void> | undefined;
  return () => {
    stopped ??= (async () => {
      await rm(file, {force: true});
      for (const res of open) res.destroy();
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    })();
    return stopped;
  };
}

/** The share file of an embedded database, when a live process serves it. */
export async function readShareFile(folder: string): Promise<ShareInfo | null> {
  let info: ShareInfo;
  try {
    info = JSON.parse(await readFile(join(folder, SHARE_FILE), 'utf8')) as ShareInfo;
  } catch {
    return null;
  }
  try {
    process.kill(info.pid, 0);
  } catch {
    return null; // left by a process that died: not served
  }
  return info;
}

/** An embedded database opened by another edw process, reached through that process. */
export class SharedStore implements Store {
  readonly kind = 'shared' as const;
  readonly location: string;
  readonly #info: ShareInfo;
  readonly #controller = new AbortController();

  readonly #requestTimeoutMs: number;

  /** @param requestTimeoutMs how long a call may take beyond its own long-poll wait. @default 60000 */
  constructor(location: string, info: ShareInfo, requestTimeoutMs = 60_000) {
    this.location = location;
    this.#info = info;
    this.#requestTimeoutMs = requestTimeoutMs;
  }

  async #call<T>(method: Method, args: unknown[], signal?: AbortSignal): Promise<T> {
    const waitMs = method === 'changes' ? ((args[0] as ChangesParams).waitMs ?? 0) : 0;
    let body: {result?: T; error?: {name: string; message: string}};
    try {
      body = await withDeadline([manyListeners(this.#controller.signal), signal], this.#requestTimeoutMs + waitMs, async (linked) => {
        const response = await fetch(`${this.#info.url}/${method}`, {
          method: 'POST',
          headers: {authorization: `Bearer ${this.#info.token}`, 'content-type': 'application/json'},
          body: JSON.stringify(args, (key, value: unknown) => (key === 'signal' ? undefined : value)),
          signal: linked,
        });
        return (await response.json()) as {result?: T; error?: {name: string; message: string}};
      });
    } catch (error) {
      if (signal?.aborted) throw signal.reason;
      throw new UnavailableError(`cannot reach the embedded database ${this.location} through the edw process (pid ${this.#info.pid}) that holds it`, {cause: error});
    }
    if (body.error) {
      const Type = ERRORS[body.error.name] ?? EdwError;
      throw new Type(body.error.message);
    }
    return body.result as T;
  }

  /** Check that the serving process answers. */
  async ping(): Promise<void> {
    let response: Response;
    try {
      response = await withDeadline([], 5000, (signal) => fetch(`${this.#info.url}/ping`, {headers: {authorization: `Bearer ${this.#info.token}`}, signal}));
    } catch (error) {
      throw new UnavailableError(`the edw process (pid ${this.#info.pid}) holding ${this.location} does not answer`, {cause: error});
    }
    if (!response.ok) throw new UnavailableError(`the edw process (pid ${this.#info.pid}) holding ${this.location} refused the connection`);
  }

  async create(): Promise<boolean> {
    await this.info();
    return false;
  }
  info(signal?: AbortSignal): Promise<StoreInfo> {
    return this.#call('info', [], signal);
  }
  get(id: string, options: GetOptions = {}): Promise<Doc | null> {
    return this.#call('get', [id, options], options.signal);
  }
  getMany(ids: string[], signal?: AbortSignal): Promise<(Doc | null)[]> {
    return this.#call('getMany', [ids], signal);
  }
  put(doc: Doc, signal?: AbortSignal): Promise<string> {
    return this.#call('put', [doc], signal);
  }
  bulkWrite(docs: Doc[], signal?: AbortSignal): Promise<WriteOutcome[]> {
    return this.#call('bulkWrite', [docs], signal);
  }
  writeRevisions(docs: Doc[], signal?: AbortSignal): Promise<void> {
    return this.#call('writeRevisions', [docs], signal);
  }
  changes(params: ChangesParams): Promise<ChangesPage> {
    return this.#call('changes', [params], params.signal);
  }
  query(params: ViewParams): Promise<ViewResult> {
    return this.#call('query', [params], params.signal);
  }
  find(params: FindParams): Promise<FindResult> {
    return this.#call('find', [params], params.signal);
  }
  explain(params: FindParams): Promise<FindPlan> {
    return this.#call('explain', [params], params.signal);
  }
  createIndex(spec: IndexSpec): Promise<boolean> {
    return this.#call('createIndex', [spec], spec.signal);
  }
  getLocal(id: string, signal?: AbortSignal): Promise<Record<string, unknown> | null> {
    return this.#call('getLocal', [id], signal);
  }
  putLocal(id: string, body: Record<string, unknown>, signal?: AbortSignal): Promise<void> {
    return this.#call('putLocal', [id, body], signal);
  }
  async close(): Promise<void> {
    this.#controller.abort(new EdwError('store closed'));
  }
  async destroy(): Promise<void> {
    throw new EdwError(`the embedded database ${this.location} is in use by the edw process with pid ${this.#info.pid}; stop it first`);
  }
}
