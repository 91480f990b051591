import type {DspParameters} from './options.js';

/** Timing-level to smoothed-noise ratio the timing average is widened to reach for small pulses. */
const SMOOTHING_NOISE_RATIO = 6;

/** What {@link analyzeTrace} finds in one trace. */
export interface TraceAnalysis {
  /** Mean of the pre-trigger samples. */
  baseline: number;
  /** Standard deviation of the pre-trigger samples. */
  baselineRms: number;
  /** Pulse amplitude above baseline from the trapezoidal filter, same units as the samples. */
  amplitude: number;
  /** Leading-edge crossing at `timing_fraction` of the amplitude, in samples from the trace's first sample (fractional). */
  crossingSample: number;
  /** Whether the filter's largest output passed `threshold_sigma` filtered-noise sigmas. */
  detected: boolean;
  /** The detection threshold applied, in amplitude units. */
  threshold: number;
}

/**
 * Baseline, pole-zero corrected trapezoidal amplitude and leading-edge timing of one trace
 * (method in docs/raw-format.md):
 *
 * 1. baseline mean and rms of the first `baseline_samples`;
 * 2. pole-zero correction: `w[n] = w[n-1] + (x[n] - a·x[n-1]) / g`, `a = exp(-1/τ)`, `g = (1-a)·τ`, which
 *    turns a pulse decaying with constant τ into a step whose height is the pulse's integral over τ;
 * 3. trapezoid `T[n]` = mean of w over the `k` samples ending at n minus the mean over the `k` samples
 *    ending `k + m` earlier; its largest value decides detection and places the pulse;
 * 4. leading edge: the last upward crossing, before the filter's flat top, of `base + f·A` by w smoothed
 *    with a centred moving average (wider for small pulses), linearly interpolated;
 * 5. amplitude: T where its earlier window ends a quarter of the flat top before the crossing, so both
 *    windows miss the rise; then the crossing is found again at f times that amplitude. When that point
 *    falls outside the trace, the amplitude is the largest T and the crossing the first one.
 */
export function analyzeTrace(samples: ArrayLike<number>, p: DspParameters): TraceAnalysis {
  const n = samples.length;
  const k = p.rise_samples;
  const m = p.flat_top_samples;
  const l = k + m;
  const nb = p.baseline_samples;
  if (n < nb + l + k) throw new RangeError(`trace of ${n} samples is shorter than baseline and filter (${nb + l + k} samples)`);

  let sum = 0;
  for (let i = 0; i < nb; i++) sum += samples[i]!;
  const baseline = sum / nb;
  let squares = 0;
  for (let i = 0; i < nb; i++) squares += (samples[i]! - baseline) ** 2;
  const baselineRms = Math.sqrt(squares / (nb - 1));

  // Pole-zero corrected signal w and its prefix sums, so any window mean costs O(1).
  const a = Math.exp(-1 / p.decay_tau_samples);
  const gain = (1 - a) * p.decay_tau_samples;
  const prefix = new Float64Array(n + 1);
  let w = 0;
  let previous = 0;
  for (let i = 0; i < n; i++) {
    const x = samples[i]! - baseline;
    w += (x - a * previous) / gain;
    previous = x;
    prefix[i + 1] = prefix[i]! + w;
  }
  const windowMean = (from: number, to: number): number => (prefix[to]! - prefix[from]!) / (to - from);
  const trapezoid = (at: number): number => windowMean(at - k + 1, at + 1) - windowMean(at - l - k + 1, at - l + 1);
  const earlierMean = (at: number): number => windowMean(at - l - k + 1, at - l + 1);
  const smoothed = (at: number, half: number): number => windowMean(Math.max(0, at - half), Math.min(n, at + half + 1));
  // Small pulses get a wider average, so that noise on the plateau rarely dips below the timing level
  // and stops the walk back early: the average's noise at most a sixth of the level, its half-width at
  // most a quarter of the flat top (the walk starts that far past the rise).
  const minimumHalf = (p.smooth_samples - 1) / 2;
  const maximumHalf = Math.max(minimumHalf, Math.floor(m / 4));
  const halfWidthFor = (amplitude: number): number => {
    const width = ((SMOOTHING_NOISE_RATIO * baselineRms) / gain / (p.timing_fraction * Math.max(amplitude, 1e-9))) ** 2;
    return Math.min(maximumHalf, Math.max(minimumHalf, Math.ceil((width - 1) / 2)));
  };

  let peakAt = Math.max(nb, l + k - 1);
  let peak = trapezoid(peakAt);
  for (let i = peakAt + 1; i < n; i++) {
    const value = trapezoid(i);
    if (value > peak) {
      peak = value;
      peakAt = i;
    }
  }
  const threshold = p.threshold_sigma * p.noise_gain * baselineRms;
  const detected = peak > threshold;

  /** Crossing of base + f·amplitude, walking back from the start of the later window of T at `at`. */
  const crossing = (at: number, amplitude: number): number => {
    const level = earlierMean(at) + p.timing_fraction * amplitude;
    const half = halfWidthFor(amplitude);
    const lowest = Math.max(1, at - l + 1);
    let i = at - k + 1;
    while (i < at && smoothed(i, half) < level) i++;
    while (i > lowest && smoothed(i - 1, half) >= level) i--;
    const below = smoothed(i - 1, half);
    const above = smoothed(i, half);
    if (!(above > below) || below >= level) return i;
    return i - 1 + (level - below) / (above - below);
  };

  let crossingSample = crossing(peakAt, peak);
  let amplitude = peak;
  const at = Math.floor(crossingSample) - Math.floor(m / 4) + l;
  if (at <= n - 1 && at - l - k + 1 >= 0) {
    amplitude = trapezoid(at);
    crossingSample = crossing(at, amplitude);
  }
  return {baseline, baselineRms, amplitude, crossingSample, detected, threshold};
}
