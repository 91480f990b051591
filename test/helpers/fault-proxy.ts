/**
 * A fault-injecting HTTP proxy between edw and a CouchDB-compatible test server. It forwards every
 * request unchanged until told otherwise, and can:
 * - make `seq` values opaque strings as CouchDB 3 does (on by default): numbers from pouchdb-server
 *   become random tokens with no order and no numeric prefix (stricter than CouchDB's `N-g1AA…`, so
 *   code that parses or compares them fails here), mapped back when they come in as `since`;
 * - rewind the feed: the next `_changes` requests are answered from `since=0`, as a CouchDB cluster
 *   does after a shard move;
 * - hold `_changes` requests open and silent (headers and heartbeat newlines, never a body), as a
 *   connection to a server that restarted can stay;
 * - go down (every open connection dropped, new ones reset) and come back up;
 * - answer chosen requests with a status of its choice (409, 5xx, a cluster's 412 `nodedown`), and refuse
 *   chosen documents inside a `_bulk_docs` with a per-document conflict, as CouchDB does;
 * - answer chosen writes `202 Accepted` (written, but on fewer copies than a cluster's quorum), with
 *   `accepted: true` on each document written, as CouchDB does.
 *
 * ```ts
 * const proxy = await startFaultProxy(server.url);
 * const store = await openStore({url: proxy.databaseUrl(server.databaseUrl())});
 * proxy.conflictOn('doc-1', 20);          // the next 20 writes of doc-1 are 409s
 * ```
 */
import {EventEmitter, once} from 'node:events';
import {randomBytes} from 'node:crypto';
import {createServer, request as httpRequest, type IncomingMessage, type ServerResponse} from 'node:http';
import type {AddressInfo, Socket} from 'node:net';

export interface FaultProxyOptions {
  /** Turn the server's `seq` values into opaque strings. @default true */
  opaqueSeqs?: boolean;
}

/** A request as the proxy saw it: method, path without the query, parsed query, body (parsed JSON or undefined). */
export interface SeenRequest {
  method: string;
  /** Path relative to the server root, decoded, without the query: `db/_changes`, `db/doc-1`. */
  path: string;
  query: URLSearchParams;
  body: unknown;
}

export interface FaultRule {
  /** Which requests it applies to. */
  match: (request: SeenRequest) => boolean;
  /**
   * The status to answer with; `'drop'` destroys the connection before forwarding the request,
   * `'lose-answer'` forwards it (the server acts on it) and then destroys the connection, so the
   * client never learns the outcome of what it asked; `'accepted'` forwards it and turns a 201 answer
   * into CouchDB's 202 for a write below quorum (each document written marked `accepted: true`).
   */
  status: number | 'drop' | 'lose-answer' | 'accepted';
  /** JSON body of the answer. @default a CouchDB-style error body for the status */
  body?: unknown;
  /** How many matching requests it answers before it retires. @default Infinity */
  times?: number;
}

/** A fault rule in place: how many requests it answered so far. */
export interface ActiveRule {
  readonly hits: number;
  /** Retire the rule now. */
  remove(): void;
}

/** What the proxy counted since it started. */
export interface ProxyCounts {
  /** Requests forwarded to the server. */
  forwarded: number;
  /** `_changes` requests answered from 0 by a rewind. */
  rewound: number;
  /** `_changes` requests held silent. */
  held: number;
  /** Held requests the client gave up on (closed its side). */
  heldClosedByClient: number;
  /** Connections reset because the proxy was down. */
  refused: number;
  /** Requests whose `since` was an opaque value the proxy had handed out. */
  opaqueSinces: number;
}

export interface FaultProxy {
  /** The proxy's root URL, ending in `/`. */
  readonly url: string;
  readonly counts: Readonly<ProxyCounts>;
  /**
   * Emits `request` (SeenRequest) for every request, `held` when a `_changes` request is held,
   * `heldClosed` when the client gives one up, and `refused` for each connection reset while down.
   */
  readonly events: EventEmitter;
  /** The same database URL with the proxy's host and port (credentials kept). */
  databaseUrl(serverDatabaseUrl: string): string;
  /** Whether a value is one of the opaque seqs this proxy handed out. */
  isOpaqueSeq(value: unknown): boolean;
  /** Answer the next `count` `_changes` requests from `since=0`. */
  rewindFeeds(count?: number): void;
  /** Hold the next `count` `_changes` requests open and silent, with a newline every `heartbeatMs`. */
  silenceFeeds(count?: number, options?: {heartbeatMs?: number}): void;
  /** Drop every open connection and reset new ones until `up()`. */
  down(): void;
  up(): void;
  /** Answer matching requests with a fault. Rules are tried in the order they were added. */
  inject(rule: FaultRule): ActiveRule;
  /**
   * The next `times` writes of document `id` are refused with a conflict: a PUT/DELETE gets 409, and in
   * a `_bulk_docs` (not `new_edits=false`) the document gets `{error: "conflict"}` while the others
   * are written.
   */
  conflictOn(id: string, times: number): ActiveRule;
  /** Wait until `counts[key]` reaches `value`. */
  waitFor(key: keyof ProxyCounts, value: number): Promise<void>;
  close(): Promise<void>;
}

const ERRORS: Record<number, {error: string; reason: string}> = {
  409: {error: 'conflict', reason: 'Document update conflict.'},
  500: {error: 'unknown_error', reason: 'injected by the fault proxy'},
  502: {error: 'bad_gateway', reason: 'injected by the fault proxy'},
  503: {error: 'service_unavailable', reason: 'injected by the fault proxy'},
};

interface RuleState extends FaultRule {
  hits: number;
  removed: boolean;
}

/** Start a proxy on a free loopback port in front of the server at `target` (its root URL). */
export async function startFaultProxy(target: string, options: FaultProxyOptions = {}): Promise<FaultProxy> {
  const upstream = new URL(target);
  const opaque = options.opaqueSeqs ?? true;
  const toOpaque = new Map<string, string>();
  const fromOpaque = new Map<string, string>();
  const counts: ProxyCounts = {forwarded: 0, rewound: 0, held: 0, heldClosedByClient: 0, refused: 0, opaqueSinces: 0};
  const events = new EventEmitter();
  const rules: RuleState[] = [];
  const sockets = new Set<Socket>();
  const inFlight = new Set<AbortController>();
  const heartbeats = new Set<NodeJS.Timeout>();
  let rewinds = 0;
  let silences = 0;
  let heartbeatMs = 1000;
  let isDown = false;

  const opaqueOf = (seq: unknown): unknown => {
    if (!opaque || seq === undefined || seq === null) return seq;
    const real = typeof seq === 'string' ? seq : JSON.stringify(seq);
    let token = toOpaque.get(real);
    if (!token) {
      token = `g1AAAA${randomBytes(12).toString('base64url')}`;
      toOpaque.set(real, token);
      fromOpaque.set(token, real);
    }
    return token;
  };

  const count = (key: keyof ProxyCounts, event?: string, payload?: unknown): void => {
    counts[key]++;
    events.emit('count', key);
    if (event) events.emit(event, payload);
  };

  const server = createServer((req, res) => {
    void handle(req, res).catch((error: unknown) => {
      if (!res.headersSent) res.writeHead(502, {'content-type': 'application/json'});
      res.end(JSON.stringify({error: 'bad_gateway', reason: `fault proxy: ${String(error)}`}));
    });
  });
  server.on('connection', (socket) => {
    if (isDown) {
      count('refused', 'refused');
      socket.destroy();
      return;
    }
    sockets.add(socket);
    socket.once('close', () => sockets.delete(socket));
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const port = (server.address() as AddressInfo).port;
  const url = `http://127.0.0.1:${port}/`;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const chunks: Buffer[] = [];
    for await (const chunk of req) chunks.push(chunk as Buffer);
    let raw = Buffer.concat(chunks);
    const parsedUrl = new URL(req.url ?? '/', 'http://proxy');
    const path = decodeURIComponent(parsedUrl.pathname.replace(/^\//, ''));
    const query = parsedUrl.searchParams;
    let body: unknown;
    if (raw.length > 0 && /json/.test(String(req.headers['content-type'] ?? ''))) {
      try {
        body = JSON.parse(raw.toString('utf8'));
      } catch {
        body = undefined;
      }
    }
    // A copy: the query forwarded may be changed below (seqs mapped back, a rewind).
    const seen: SeenRequest = {method: req.method ?? 'GET', path, query: new URLSearchParams(query), body};
    events.emit('request', seen);
    const isChanges = /(^|\/)_changes$/.test(path);

    let loseAnswer = false;
    let accepted = false;
    for (const rule of rules) {
      if (rule.removed || rule.hits >= (rule.times ?? Infinity) || !rule.match(seen)) continue;
      rule.hits++;
      if (rule.status === 'lose-answer') {
        loseAnswer = true;
        break;
      }
      if (rule.status === 'accepted') {
        accepted = true;
        break;
      }
      if (rule.status === 'drop') {
        req.socket.destroy();
        return;
      }
      const answer = rule.body ?? ERRORS[rule.status] ?? {error: 'injected', reason: `HTTP ${rule.status} from the fault proxy`};
      res.writeHead(rule.status, {'content-type': 'application/json'});
      res.end(JSON.stringify(answer));
      return;
    }

    if (isChanges && silences > 0) {
      silences--;
      hold(res);
      return;
    }

    // Opaque seqs handed out come back as `since`: give the server its own value.
    const since = query.get('since');
    if (since !== null && fromOpaque.has(since)) {
      query.set('since', fromOpaque.get(since)!);
      count('opaqueSinces');
    }
    if (isChanges && rewinds > 0) {
      rewinds--;
      query.set('since', '0');
      count('rewound');
    }

    // Bulk writes with documents to refuse: forward the rest, answer for them as CouchDB would.
    let refusedInBulk: string[] = [];
    if (/(^|\/)_bulk_docs$/.test(path) && seen.method === 'POST' && isBulk(body) && body.new_edits !== false) {
      refusedInBulk = body.docs.map((d) => String(d._id ?? '')).filter((id) => conflictRule(id));
      if (refusedInBulk.length > 0) {
        body.docs = body.docs.filter((d) => !refusedInBulk.includes(String(d._id ?? '')));
        raw = Buffer.from(JSON.stringify(body));
      }
    }

    const search = query.toString();
    const headers: Record<string, string | string[] | undefined> = {...req.headers, host: upstream.host, 'content-length': String(raw.length)};
    // Plain bodies, so the proxy can read and rewrite them.
    delete headers['accept-encoding'];
    const abort = new AbortController();
    inFlight.add(abort);
    const clientGone = (): void => abort.abort();
    res.once('close', clientGone);
    try {
      const answer = await forward(seen.method, `/${parsedUrl.pathname.replace(/^\//, '')}${search ? `?${search}` : ''}`, headers, raw, abort.signal);
      count('forwarded');
      if (loseAnswer) {
        req.socket.destroy();
        return;
      }
      let out = answer.body;
      const json = /json/.test(String(answer.headers['content-type'] ?? '')) || out.subarray(0, 1).toString() === '{' || out.subarray(0, 1).toString() === '[';
      accepted &&= answer.status === 201;
      if (json && (opaque || refusedInBulk.length > 0 || accepted)) {
        let value: unknown;
        try {
          value = JSON.parse(out.toString('utf8'));
        } catch {
          value = undefined;
        }
        if (value !== undefined) {
          if (isChanges && isRecord(value)) rewriteChanges(value);
          else if (isRecord(value) && 'update_seq' in value && 'db_name' in value) value.update_seq = opaqueOf(value.update_seq);
          if (refusedInBulk.length > 0 && Array.isArray(value)) {
            for (const id of refusedInBulk) value.push({id, ...ERRORS[409]});
          }
          if (accepted) {
            for (const result of Array.isArray(value) ? value : [value]) if (isRecord(result) && typeof result.rev === 'string' && !result.error) result.accepted = true;
          }
          out = Buffer.from(JSON.stringify(value));
        }
      }
      const outHeaders = {...answer.headers};
      delete outHeaders['content-length'];
      delete outHeaders['transfer-encoding'];
      delete outHeaders['content-encoding'];
      res.writeHead(accepted ? 202 : answer.status, {...outHeaders, 'content-length': String(out.length)});
      res.end(out);
    } catch (error) {
      if (abort.signal.aborted) {
        req.socket.destroy();
        return;
      }
      throw error;
    } finally {
      inFlight.delete(abort);
      res.off('close', clientGone);
    }
  }

  function rewriteChanges(value: Record<string, unknown>): void {
    if (!opaque) return;
    if (Array.isArray(value.results)) for (const change of value.results as Array<Record<string, unknown>>) change.seq = opaqueOf(change.seq);
    value.last_seq = opaqueOf(value.last_seq);
  }

  function conflictRule(id: string): boolean {
    for (const rule of rules) {
      if (rule.removed || rule.hits >= (rule.times ?? Infinity)) continue;
      if ((rule as RuleState & {conflictId?: string}).conflictId === id) {
        rule.hits++;
        return true;
      }
    }
    return false;
  }

  function hold(res: ServerResponse): void {
    count('held', 'held');
    res.writeHead(200, {'content-type': 'application/json'});
    res.flushHeaders();
    const beat = setInterval(() => res.write('\n'), heartbeatMs);
    heartbeats.add(beat);
    res.once('close', () => {
      clearInterval(beat);
      heartbeats.delete(beat);
      if (!res.writableFinished) count('heldClosedByClient', 'heldClosed');
    });
  }

  function forward(method: string, path: string, headers: Record<string, string | string[] | undefined>, body: Buffer, signal: AbortSignal): Promise<{status: number; headers: Record<string, string | string[] | undefined>; body: Buffer}> {
    return new Promise((resolve, reject) => {
      const out = httpRequest({host: upstream.hostname, port: upstream.port, method, path, headers, signal}, (answer) => {
        const parts: Buffer[] = [];
        answer.on('data', (chunk: Buffer) => parts.push(chunk));
        answer.once('end', () => resolve({status: answer.statusCode ?? 502, headers: answer.headers, body: Buffer.concat(parts)}));
        answer.once('error', reject);
      });
      out.once('error', reject);
      out.end(body);
    });
  }

  function addRule(rule: RuleState): ActiveRule {
    rules.push(rule);
    return {
      get hits() {
        return rule.hits;
      },
      remove() {
        rule.removed = true;
      },
    };
  }

  return {
    url,
    counts,
    events,
    databaseUrl(serverDatabaseUrl) {
      const through = new URL(serverDatabaseUrl);
      through.host = `127.0.0.1:${port}`;
      through.protocol = 'http:';
      return through.toString();
    },
    isOpaqueSeq(value) {
      return typeof value === 'string' && fromOpaque.has(value);
    },
    rewindFeeds(n = 1) {
      rewinds += n;
    },
    silenceFeeds(n = 1, silenceOptions = {}) {
      silences += n;
      heartbeatMs = silenceOptions.heartbeatMs ?? heartbeatMs;
    },
    down() {
      isDown = true;
      for (const abort of inFlight) abort.abort();
      for (const socket of sockets) socket.destroy();
    },
    up() {
      isDown = false;
    },
    inject(rule) {
      return addRule({...rule, hits: 0, removed: false});
    },
    conflictOn(id, times) {
      const isWrite = (r: SeenRequest): boolean => (r.method === 'PUT' || r.method === 'DELETE') && r.path.split('/').slice(1).join('/') === id;
      const rule: RuleState & {conflictId: string} = {match: isWrite, status: 409, times, hits: 0, removed: false, conflictId: id};
      return addRule(rule);
    },
    async waitFor(key, value) {
      while (counts[key] < value) await once(events, 'count');
    },
    async close() {
      for (const beat of heartbeats) clearInterval(beat);
      for (const abort of inFlight) abort.abort();
      for (const socket of sockets) socket.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
}

function isRecord(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

function isBulk(value: unknown): value is {docs: Array<Record<string, unknown>>; new_edits?: boolean} {
  return isRecord(value) && Array.isArray(value.docs);
}
