import {Counter, Gauge, Histogram, type Registry} from 'prom-client';
import type {Runner, StepEvent} from '../runtime/index.js';
import type {Store} from '../store/index.js';
import {feedLag} from './feed-lag.js';

/** Step durations' histogram buckets, seconds: from a no-op step to a long transfer. */
const DURATION_BUCKETS = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];

function seconds(event: StepEvent): number | undefined {
  const started = Date.parse(event.entry.started ?? '');
  const finished = Date.parse(event.entry.finished ?? '');
  return Number.isFinite(started) && Number.isFinite(finished) ? Math.max(0, (finished - started) / 1000) : undefined;
}

/**
 * The metrics of one listener process (`edw listen --metrics-port`), on `registry`: step outcomes and
 * durations per step and version as the Runner's listeners record them, claims held now, and how
 * far the process's feed is behind the database.
 */
export function registerListenerMetrics(registry: Registry, runner: Runner, store: Store): void {
  const labelNames = ['step', 'version'] as const;
  const completed = new Counter({name: 'edw_steps_completed_total', help: 'Step runs this process completed and recorded, per step and version', labelNames, registers: [registry]});
  const failed = new Counter({name: 'edw_steps_failed_total', help: 'Step runs this process recorded as failed for good (attempts used up, or an error that cannot pass), per step and version', labelNames, registers: [registry]});
  const retried = new Counter({name: 'edw_steps_retrying_total', help: 'Step runs this process recorded as failed in a way that may pass (the document is retried later), per step and version', labelNames, registers: [registry]});
  const duration = new Histogram({name: 'edw_step_duration_seconds', help: 'Duration of recorded step runs (started to finished), per step and version', labelNames, buckets: DURATION_BUCKETS, registers: [registry]});
  for (const listener of runner.stepListeners) {
    const step = listener.step.name;
    // Counted from 0, so that a step that has done nothing yet shows as such.
    const labels = {step, version: listener.step.version};
    completed.inc(labels, 0);
    failed.inc(labels, 0);
    const record = (counter: Counter<'step' | 'version'>) => (event: StepEvent): void => {
      const recorded = {step, version: event.entry.version ?? listener.step.version};
      counter.inc(recorded);
      const took = seconds(event);
      if (took !== undefined) duration.observe(recorded, took);
    };
    listener.on('completed', record(completed));
    listener.on('failed', record(failed));
    listener.on('retrying', record(retried));
  }
  new Gauge({
    name: 'edw_claims_held', help: 'Documents this process holds a claim on and runs now, per step', labelNames: ['step'], registers: [registry],
    collect() {
      for (const listener of runner.stepListeners) this.set({step: listener.step.name}, listener.busy);
    },
  });
  new Gauge({
    name: 'edw_feed_lag_changes', help: "Changes in the database after this process's feed position (counted up to 10000)", registers: [registry],
    async collect() {
      const since = runner.stepListeners[0]?.state.since;
      if (since) this.set(await feedLag(store, since));
    },
  });
}
