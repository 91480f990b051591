import {Gauge, type Registry} from 'prom-client';
import {DOC_STATES, listListeners, statusCounts, type StatusCounts} from '../inspect/index.js';
import type {Store} from '../store/index.js';
import {feedLag} from './feed-lag.js';

export interface DatabaseMetricsOptions {
  store: Store;
  /** The chain's steps, in order. */
  steps: readonly string[];
  /** Listeners stopped or silent for longer than this are left out. @default 7 days */
  forgetAfterMs?: number;
  /** @default Date.now */
  now?: () => number;
}

/** Read once per scrape by every gauge below: what `edw status` and `edw listeners` see. */
function oncePerScrape<T>(read: () => Promise<T>): () => Promise<T> {
  let current: {promise: Promise<T>; atMs: number} | undefined;
  return () => {
    if (!current || Date.now() - current.atMs > 1000) current = {promise: read(), atMs: Date.now()};
    return current.promise;
  };
}

/**
 * The database as `edw serve`'s `/metrics` shows it, read when scraped: documents per row and state
 * (the status table), completions per step, claims held, retries pending, documents failed, and each
 * listener process's feed lag and state from its heartbeat.
 */
export function registerDatabaseMetrics(registry: Registry, options: DatabaseMetricsOptions): void {
  const now = options.now ?? Date.now;
  const status = oncePerScrape<StatusCounts>(() => statusCounts(options.store, [...options.steps], now()));
  const listeners = oncePerScrape(async () => (await listListeners(options.store, {now: now(), forgetAfterMs: options.forgetAfterMs ?? 7 * 86_400_000, deleteForgotten: false})).listeners);
  const gauge = (name: string, help: string, labelNames: string[], fill: (gauge: Gauge, status: StatusCounts) => void): void => {
    new Gauge({name, help, labelNames, registers: [registry], async collect() {
      this.reset();
      fill(this, await status());
    }});
  };
  gauge('edw_documents', 'Data-file documents per row of the status table and state (edw status)', ['row', 'state'], (g, s) => {
    for (const [row, counts] of Object.entries(s.rows)) for (const state of DOC_STATES) g.set({row, state}, counts[state]);
  });
  gauge('edw_step_completions', 'Documents that completed a step (of record): those at its stage or at a later step\'s', ['step'], (g, s) => {
    let past = 0;
    for (let i = options.steps.length - 1; i >= 0; i--) {
      past += s.stages[options.steps[i]!] ?? 0;
      g.set({step: options.steps[i]!}, past);
    }
  });
  gauge('edw_documents_claimed', 'Documents a listener holds a live claim on now, per step (each listener process serves its own as edw_claims_held)', ['step'], (g, s) => {
    for (const [step, n] of Object.entries(s.in_progress)) g.set({step}, n);
  });
  gauge('edw_retries_pending', 'Documents a step failed on in a way that may pass, waiting for their next try, per step', ['step'], (g, s) => {
    for (const step of options.steps) g.set({step}, s.rows[step]?.retrying ?? 0);
  });
  gauge('edw_documents_failed', 'Documents failed for good at a step, until edw retry', ['step'], (g, s) => {
    for (const [step, n] of Object.entries(s.failed)) g.set({step}, n);
  });
  new Gauge({
    name: 'edw_listener_feed_lag_changes', help: "Changes in the database after each alive listener process's feed position, from its heartbeat (counted up to 10000; the process itself serves edw_feed_lag_changes)", labelNames: ['owner'], registers: [registry],
    async collect() {
      this.reset();
      for (const l of (await listeners()).filter((r) => r.state === 'alive')) {
        const since = l.listeners[0]?.since;
        if (since) this.set({owner: l.owner}, await feedLag(options.store, since));
      }
    },
  });
  new Gauge({
    name: 'edw_listener_processes', help: 'Listener processes by state of their heartbeat (alive, stale, stopped)', labelNames: ['state'], registers: [registry],
    async collect() {
      const all = await listeners();
      for (const state of ['alive', 'stale', 'stopped'] as const) this.set({state}, all.filter((l) => l.state === state).length);
    },
  });
}
