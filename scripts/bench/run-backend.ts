/** All of one backend's figures, in the order that keeps each measurement on a fresh database. */
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import type {BenchBackend} from './backends.js';
import {measureBaseline, type BaselineFigures} from './baseline.js';
import {measureChain, type ChainFigures} from './chain.js';
import {writeSmallFiles} from './documents.js';
import {measureLatency, type LatencyFigures} from './latency.js';
import {measureLimits, type LimitFigures} from './limits.js';
import {measureRegistration} from './registration.js';
import {timeStatus} from './status.js';
import type {Store} from '../../lib/store/index.js';

/** Every figure of one backend; a measurement that failed leaves its figures out (see `errors`). */
export interface BackendFigures extends Partial<LimitFigures & ChainFigures & LatencyFigures & BaselineFigures> {
  register_docs_per_s?: number;
  register_docs_per_s_no_md5?: number;
  status_ms?: number;
  status_cold_ms?: number;
  status_docs?: number;
  docs: number;
  /** One line per measurement that failed: the others still ran. */
  errors: string[];
}

export interface RunBackendOptions {
  docs: number;
  concurrency: number;
  note: (line: string) => void;
}

/**
 * How long one request may take while `edw status` is timed. A first status call after a large run
 * brings two view indexes up to date; on pouchdb-server at 100,000 documents that took longer than
 * edw's default request timeout (60 s), and the call failed as 'no answer in time'.
 */
const STATUS_REQUEST_TIMEOUT_MS = 30 * 60_000;

export async function runBackend(backend: BenchBackend, options: RunBackendOptions): Promise<BackendFigures> {
  const note = (what: string): void => options.note(`bench: ${backend.name}: ${what}`);
  const figures: BackendFigures = {docs: options.docs, errors: []};
  /** Run one measurement on a fresh database, dropped afterwards; a failure is noted and the run goes on. */
  const measure = async <T>(what: string, purpose: string, open: {design?: boolean}, work: (store: Store, url: string) => Promise<T>): Promise<T | undefined> => {
    note(what);
    const url = backend.freshUrl(purpose);
    try {
      const store = await backend.open(url, open);
      try {
        return await work(store, url);
      } finally {
        await store.close();
      }
    } catch (error) {
      const line = `${what}: ${(error as Error).message}`;
      note(`failed: ${line}`);
      figures.errors.push(line);
      return undefined;
    } finally {
      await backend.drop(url).catch(() => {});
    }
  };
  const files = await mkdtemp(join(tmpdir(), 'edw-bench-files-'));
  try {
    Object.assign(figures, await measure('database limits', 'limits', {}, (store) => measureLimits(store, {serverPid: backend.serverPid})));

    const dir = join(files, 'raw');
    await writeSmallFiles(dir, options.docs);
    const plain = await measure(`registering ${options.docs} files without md5`, 'register', {design: true}, (store) => measureRegistration(store, dir, options.docs, false));
    figures.register_docs_per_s_no_md5 = plain?.docsPerSecond;
    await measure(`registering ${options.docs} files with md5, then the chain`, 'chain', {design: true}, async (store, url) => {
      figures.register_docs_per_s = (await measureRegistration(store, dir, options.docs, true)).docsPerSecond;
      // The listener process opens the database itself: this process lets go of it first.
      await store.close();
      note(`chain of three no-op steps over ${options.docs} documents (listener in a child process)`);
      Object.assign(figures, await measureChain({
        url, docs: options.docs, concurrency: options.concurrency, serverPid: backend.serverPid,
        deadlineMs: Math.max(120_000, options.docs * 3 * 40),
      }));
      note(`chain: ${Math.round(figures.chain_steps_per_s ?? 0)} steps/s; timing edw status`);
      const statusStore = await backend.open(url, {requestTimeoutMs: STATUS_REQUEST_TIMEOUT_MS});
      try {
        const status = await timeStatus(statusStore);
        Object.assign(figures, {status_ms: status.warmMs, status_cold_ms: status.coldMs, status_docs: status.counts.total});
      } finally {
        await statusStore.close();
      }
    });
    Object.assign(figures, await measure('latency under a trickle of 20 files/s for 30 s', 'latency', {design: true},
      (store) => measureLatency(store, {dir: join(files, 'trickle'), concurrency: options.concurrency})));
    Object.assign(figures, await measure('seed-style baseline on 2000 documents', 'baseline', {design: true}, (store) => measureBaseline(store)));
    return figures;
  } finally {
    await rm(files, {recursive: true, force: true});
  }
}
