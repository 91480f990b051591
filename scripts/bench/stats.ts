/** Small numeric helpers of the bench: percentiles, rates, rounding, timing. */
import {performance} from 'node:perf_hooks';

/** The p-th percentile (0..100) of `values` by the nearest-rank method; NaN when empty. */
export function percentile(values: number[], p: number): number {
  if (values.length === 0) return Number.NaN;
  const sorted = [...values].sort((a, b) => a - b);
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length - 1, Math.max(0, rank - 1))]!;
}

/** Operations per second: `count` done in `ms` milliseconds. */
export function perSecond(count: number, ms: number): number {
  return ms > 0 ? (count * 1000) / ms : Number.NaN;
}

/** Round to `digits` significant digits (3 by default), so printed figures do not pretend more precision than runs repeat. */
export function significant(value: number, digits = 3): number {
  if (!Number.isFinite(value) || value === 0) return value;
  const scale = 10 ** (digits - 1 - Math.floor(Math.log10(Math.abs(value))));
  return Math.round(value * scale) / scale;
}

/** Milliseconds since an arbitrary origin, monotonic. */
export function now(): number {
  return performance.now();
}

/** Run `work` and return its result with the milliseconds it took. */
export async function timed<T>(work: () => Promise<T>): Promise<{value: T; ms: number}> {
  const start = now();
  const value = await work();
  return {value, ms: now() - start};
}

/** Run `work` `times` times, one after the other: each run's milliseconds, and the last run's result. */
export async function timedRuns<T>(times: number, work: () => Promise<T>): Promise<{value: T; ms: number[]}> {
  const ms: number[] = [];
  let last!: T;
  for (let i = 0; i < times; i++) {
    const run = await timed(work);
    ms.push(run.ms);
    last = run.value;
  }
  return {value: last, ms};
}

/** The median of a few repetitions' milliseconds. */
export function median(values: number[]): number {
  return percentile(values, 50);
}

/**
 * Call `fire(i)` for i = 0..count-1 at `perSecond` a second, on a fixed schedule from now (a slow call does
 * not slow the schedule down: calls are not awaited one by one); resolves when every call has settled.
 */
export async function paced(count: number, perSecondRate: number, fire: (i: number) => Promise<unknown>): Promise<void> {
  const start = now();
  const calls: Promise<unknown>[] = [];
  for (let i = 0; i < count; i++) {
    const at = start + (i * 1000) / perSecondRate;
    if (at > now()) await new Promise((resolve) => setTimeout(resolve, at - now()));
    calls.push(fire(i));
  }
  await Promise.all(calls);
}
