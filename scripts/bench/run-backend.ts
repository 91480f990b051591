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

export interface BackendFigures extends LimitFigures, ChainFigures, LatencyFigures, BaselineFigures {
  register_docs_per_s: number;
  register_docs_per_s_no_md5: number;
  status_ms: number;
  status_cold_ms: number;
  status_docs: number;
  docs: number;
}

export interface RunBackendOptions {
  docs: number;
  concurrency: number;
  note: (line: string) => void;
}

export async function runBackend(backend: BenchBackend, options: RunBackendOptions): Promise<BackendFigures> {
  const note = (what: string): void => options.note(`bench: ${backend.name}: ${what}`);
  const files = await mkdtemp(join(tmpdir(), 'edw-bench-files-'));
  try {
    note('database limits');
    const limitsUrl = backend.freshUrl('limits');
    const limitsStore = await backend.open(limitsUrl);
    const limits = await measureLimits(limitsStore).finally(() => limitsStore.close());
    await backend.drop(limitsUrl);

    note(`registering ${options.docs} files, without and with md5`);
    const dir = join(files, 'raw');
    await writeSmallFiles(dir, options.docs);
    const plainUrl = backend.freshUrl('register');
    const plainStore = await backend.open(plainUrl, {design: true});
    const plain = await measureRegistration(plainStore, dir, options.docs, false).finally(() => plainStore.close());
    await backend.drop(plainUrl);
    const chainUrl = backend.freshUrl('chain');
    const chainStore = await backend.open(chainUrl, {design: true});
    const hashed = await measureRegistration(chainStore, dir, options.docs, true).finally(() => chainStore.close());

    note(`chain of three no-op steps over ${options.docs} documents (listener in a child process)`);
    const chain = await measureChain({
      url: chainUrl, docs: options.docs, concurrency: options.concurrency, serverPid: backend.serverPid,
      deadlineMs: Math.max(120_000, options.docs * 3 * 40),
    });
    note(`chain: ${Math.round(chain.chain_steps_per_s)} steps/s; timing edw status`);
    const statusStore = await backend.open(chainUrl);
    const status = await timeStatus(statusStore).finally(() => statusStore.close());
    await backend.drop(chainUrl);

    note('latency under a trickle of 20 files/s for 30 s');
    const latencyUrl = backend.freshUrl('latency');
    const latencyStore = await backend.open(latencyUrl, {design: true});
    const latency = await measureLatency(latencyStore, {dir: join(files, 'trickle'), concurrency: options.concurrency}).finally(() => latencyStore.close());
    await backend.drop(latencyUrl);

    note('seed-style baseline on 2000 documents');
    const baselineUrl = backend.freshUrl('baseline');
    const baselineStore = await backend.open(baselineUrl, {design: true});
    const baseline = await measureBaseline(baselineStore).finally(() => baselineStore.close());
    await backend.drop(baselineUrl);

    return {
      ...limits, ...chain, ...latency, ...baseline,
      register_docs_per_s: hashed.docsPerSecond, register_docs_per_s_no_md5: plain.docsPerSecond,
      status_ms: status.warmMs, status_cold_ms: status.coldMs, status_docs: status.counts.total, docs: options.docs,
    };
  } finally {
    await rm(files, {recursive: true, force: true});
  }
}
