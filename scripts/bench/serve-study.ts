/**
 * `--serve-only`: edw serve under load on a database of `--serve-docs` documents (default 100,000),
 * on the embedded database and on a server: `GET /api/v1/status`, the first page of documents and a
 * page 100 pages deep (through the cursors) at 50 concurrent clients, each for a few seconds
 * (p50, p99, requests/s); then the server-sent events of `/api/v1/events` fanned out to 100 clients:
 * for each of 20 writes, one after the other, the time until every client has its change event.
 * The server runs in the bench's process, as the load does: figures include the client's own cost.
 */
import {silentLogger} from '../../lib/log/index.js';
import {startServer} from '../../lib/serve/index.js';
import {eventsOf} from '../support/event-stream.js';
import type {BenchBackend} from './backends.js';
import {dataFileDoc, doneEntry} from './documents.js';
import {NOOP_STEPS} from './noop-chain.js';
import {now, percentile, perSecond, significant, timed} from './stats.js';

export interface LoadFigures {
  requests: number;
  p50_ms: number;
  p99_ms: number;
  requests_per_s: number;
  /** Requests answered with an error status, or not answered. */
  errors: number;
}

export interface ServeStudy {
  database: string;
  docs: number;
  insert_ms: number;
  /** The first status reading of a cold `edw serve` on the fresh documents, nothing kept: it reads the whole feed once. */
  first_status_ms: number;
  /**
   * Then that server stopped (its keeper saves the counts), `late_docs` more documents written, and a
   * new server started: its first status reading, from the counts kept `late_docs` changes behind
   * (exact: whether it had read them all, else it says how fresh it is).
   */
  late_docs: number;
  first_status_kept_ms: number;
  first_status_kept_exact: boolean;
  clients: number;
  status: LoadFigures;
  documents_first_page: LoadFigures;
  documents_page_100: LoadFigures;
  sse_clients: number;
  sse_writes: number;
  sse_delivery_p50_ms: number;
  sse_delivery_p99_ms: number;
}

const CHAIN = NOOP_STEPS.map((name, i) => ({name, after: i === 0 ? 'new' : NOOP_STEPS[i - 1]!}));

/** `clients` loops each asking `url` again as soon as answered, for `durationMs`. */
async function load(url: string, clients: number, durationMs: number): Promise<LoadFigures> {
  const latencies: number[] = [];
  let errors = 0;
  const start = now();
  await Promise.all(Array.from({length: clients}, async () => {
    while (now() - start < durationMs) {
      const asked = now();
      try {
        const response = await fetch(url);
        await response.arrayBuffer();
        if (!response.ok) errors++;
      } catch {
        errors++;
      }
      latencies.push(now() - asked);
    }
  }));
  const ms = now() - start;
  return {requests: latencies.length, p50_ms: significant(percentile(latencies, 50)), p99_ms: significant(percentile(latencies, 99)), requests_per_s: significant(perSecond(latencies.length, ms)), errors};
}

/** An event stream client that resolves `waitFor(id)` when a change event naming `id` arrives. */
async function sseClient(url: string, signal: AbortSignal): Promise<{waitFor: (id: string) => Promise<void>}> {
  const response = await fetch(url, {signal});
  const waiting = new Map<string, () => void>();
  const seen = new Set<string>();
  void (async () => {
    try {
      for await (const {event, data} of eventsOf(response)) {
        if (event !== 'change') continue;
        for (const id of (data as {ids: string[]}).ids) {
          seen.add(id);
          waiting.get(id)?.();
        }
      }
    } catch {
      // aborted at the end of the study
    }
  })();
  return {waitFor: (id) => (seen.has(id) ? Promise.resolve() : new Promise((resolve) => waiting.set(id, resolve)))};
}

export async function runServeStudy(backend: BenchBackend, options: {docs: number; note: (line: string) => void; loadMs?: number}): Promise<ServeStudy> {
  const note = (what: string): void => options.note(`bench: ${backend.name}: serve study: ${what}`);
  const url = backend.freshUrl('serve');
  const store = await backend.open(url, {design: true});
  const clients = 50;
  const loadMs = options.loadMs ?? 5000;
  try {
    note(`writing ${options.docs} documents`);
    const at = new Date(Date.UTC(2026, 10, 24));
    const insert = await timed(async () => {
      for (let first = 0; first < options.docs; first += 1000) {
        const docs = Array.from({length: Math.min(1000, options.docs - first)}, (_, k) => dataFileDoc(first + k, {prefix: 'serve', entries: NOOP_STEPS.slice(0, (first + k) % 4).map((name) => doneEntry(name, at))}));
        const refused = (await store.bulkWrite(docs)).find((o) => !o.ok);
        if (refused) throw new Error(`serve study: ${refused.id} was refused`);
      }
    });
    const cold = await startServer({store, chain: CHAIN, log: silentLogger(), port: 0});
    let first: {ms: number};
    try {
      note('first status reading');
      first = await timed(async () => (await fetch(`${cold.url}/api/v1/status`)).json());
    } finally {
      await cold.close();
    }
    const lateDocs = Math.round(options.docs / 5);
    note(`writing ${lateDocs} documents more, after the kept counts`);
    for (let first = 0; first < lateDocs; first += 1000) {
      const docs = Array.from({length: Math.min(1000, lateDocs - first)}, (_, k) => dataFileDoc(first + k, {prefix: 'serve-late'}));
      const refused = (await store.bulkWrite(docs)).find((o) => !o.ok);
      if (refused) throw new Error(`serve study: ${refused.id} was refused`);
    }
    const server = await startServer({store, chain: CHAIN, log: silentLogger(), port: 0});
    try {
      note('first status reading of a new server, the counts kept behind');
      let kept: {fresh?: unknown} = {};
      const firstKept = await timed(async () => (kept = (await (await fetch(`${server.url}/api/v1/status`)).json()) as {fresh?: unknown}));
      note('finding page 100 of the documents');
      let cursor = '';
      for (let page = 1; page < 100; page++) {
        const body = (await (await fetch(`${server.url}/api/v1/documents?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).json()) as {next: string};
        cursor = body.next;
      }
      note(`GET /api/v1/status, ${clients} clients`);
      const status = await load(`${server.url}/api/v1/status`, clients, loadMs);
      note(`GET /api/v1/documents, first page, ${clients} clients`);
      const firstPage = await load(`${server.url}/api/v1/documents?limit=100`, clients, loadMs);
      note(`GET /api/v1/documents, page 100, ${clients} clients`);
      const deepPage = await load(`${server.url}/api/v1/documents?limit=100&cursor=${cursor}`, clients, loadMs);
      note('server-sent events to 100 clients');
      const controller = new AbortController();
      const streams = await Promise.all(Array.from({length: 100}, () => sseClient(`${server.url}/api/v1/events`, controller.signal)));
      const delivery: number[] = [];
      for (let i = 0; i < 20; i++) {
        const id = `serve-sse-${i}`;
        const written = now();
        const all = Promise.all(streams.map((s) => s.waitFor(id)));
        await store.bulkWrite([dataFileDoc(options.docs + i, {prefix: 'serve-sse'})].map((d) => ({...d, _id: id})));
        await all;
        delivery.push(now() - written);
      }
      controller.abort();
      return {
        database: backend.database, docs: options.docs, insert_ms: Math.round(insert.ms), first_status_ms: Math.round(first.ms),
        late_docs: lateDocs, first_status_kept_ms: Math.round(firstKept.ms), first_status_kept_exact: kept.fresh === undefined, clients,
        status, documents_first_page: firstPage, documents_page_100: deepPage,
        sse_clients: streams.length, sse_writes: delivery.length,
        sse_delivery_p50_ms: significant(percentile(delivery, 50)), sse_delivery_p99_ms: significant(percentile(delivery, 99)),
      };
    } finally {
      await server.close();
    }
  } finally {
    await store.close();
    await backend.drop(url);
  }
}

export function formatServeStudy(studies: Partial<Record<string, ServeStudy>>): string[] {
  const lines: string[] = [];
  for (const [name, s] of Object.entries(studies)) {
    if (!s) continue;
    const row = (what: string, f: LoadFigures): string => `  ${what.padEnd(28)} p50 ${f.p50_ms} ms  p99 ${f.p99_ms} ms  ${f.requests_per_s} requests/s  (${f.requests} requests, ${f.errors} errors)`;
    lines.push(`${name}: ${s.database}, ${s.docs} documents (written in ${(s.insert_ms / 1000).toFixed(1)} s; first status ${s.first_status_ms} ms, nothing kept), ${s.clients} clients:`);
    lines.push(`  a new server, the counts kept ${s.late_docs} changes behind: first status ${s.first_status_kept_ms} ms (${s.first_status_kept_exact ? 'exact' : 'from the kept counts, saying how fresh'})`);
    lines.push(row('GET /api/v1/status', s.status), row('documents, first page', s.documents_first_page), row('documents, page 100', s.documents_page_100));
    lines.push(`  events to ${s.sse_clients} clients: a write reaches all of them in p50 ${s.sse_delivery_p50_ms} ms, p99 ${s.sse_delivery_p99_ms} ms (${s.sse_writes} writes)`);
  }
  return lines;
}
