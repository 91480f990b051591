import {ConfigError} from '../errors/index.js';

/** Signal-processing settings, in seconds so they do not depend on a file's sample rate. */
export interface DspOptions {
  /** Length of the pre-trigger region at the start of each trace used for the baseline mean and rms. @default 5e-3 */
  baselineSeconds?: number;
  /** Rise (averaging length) of the trapezoidal filter. @default 500e-6 */
  riseSeconds?: number;
  /** Flat top of the trapezoidal filter; must exceed the pulse rise (about 6 rise constants). @default 600e-6 */
  flatTopSeconds?: number;
  /** Decay constant of the pulses, for the pole-zero correction. @default 1e-3 */
  decayTauSeconds?: number;
  /** Fraction of the amplitude at which the leading edge is timed. @default 0.5 */
  timingFraction?: number;
  /**
   * Smallest width of the centred moving average applied before timing; small pulses get a wider one,
   * up to half the flat top, so that the average's noise stays under a sixth of the timing level.
   * @default 50e-6
   */
  timingSmoothSeconds?: number;
  /** A trace holds a pulse when the filter's largest output exceeds this many filtered-noise sigmas. @default 5 */
  thresholdSigma?: number;
}

/** The settings as applied to one file, in samples; stored with the results. */
export interface DspParameters {
  /** Sample rate of the file the settings were converted for. */
  sample_rate_hz: number;
  /** Pre-trigger samples for the baseline. */
  baseline_samples: number;
  /** Trapezoid rise, samples (k). */
  rise_samples: number;
  /** Trapezoid flat top, samples (m). */
  flat_top_samples: number;
  /** Pole-zero decay constant, samples. */
  decay_tau_samples: number;
  /** Smallest timing moving-average width, samples (odd, so it adds no delay). */
  smooth_samples: number;
  /** Fraction of the amplitude at which the leading edge is timed. */
  timing_fraction: number;
  /** Detection threshold in filtered-noise sigmas. */
  threshold_sigma: number;
  /** Rms of the filter output per unit rms of white input noise; the threshold is threshold_sigma · noise_gain · baseline rms. */
  noise_gain: number;
}

/** Defaults of {@link DspOptions}. */
export const DSP_DEFAULTS: Required<DspOptions> = {
  baselineSeconds: 5e-3,
  riseSeconds: 500e-6,
  flatTopSeconds: 600e-6,
  decayTauSeconds: 1e-3,
  timingFraction: 0.5,
  timingSmoothSeconds: 50e-6,
  thresholdSigma: 5,
};

/**
 * Applies defaults, checks every option and converts to samples at `sampleRateHz`. Throws ConfigError
 * naming the option and the bad value (a setting that rounds to too few samples at this rate included).
 */
export function resolveDspParameters(options: DspOptions, sampleRateHz: number): DspParameters {
  const o = {...DSP_DEFAULTS, ...Object.fromEntries(Object.entries(options).filter(([, value]) => value !== undefined))} as Required<DspOptions>;
  for (const [name, value] of Object.entries(o)) {
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) {
      throw new ConfigError(`dsp option ${name}: expected a positive number, got ${JSON.stringify(value)}`);
    }
  }
  if (o.timingFraction >= 1) throw new ConfigError(`dsp option timingFraction: expected a number between 0 and 1, got ${o.timingFraction}`);
  const samples = (name: keyof DspOptions, min: number): number => {
    const count = Math.round(o[name] * sampleRateHz);
    if (count < min) {
      throw new ConfigError(`dsp option ${name}: ${o[name]} s is ${count} samples at ${sampleRateHz} Hz, at least ${min} needed`);
    }
    return count;
  };
  const smooth = samples('timingSmoothSeconds', 1);
  const rise = samples('riseSeconds', 1);
  const flatTop = samples('flatTopSeconds', 4);
  const decay = o.decayTauSeconds * sampleRateHz;
  return {
    sample_rate_hz: sampleRateHz,
    baseline_samples: samples('baselineSeconds', 2),
    rise_samples: rise,
    flat_top_samples: flatTop,
    decay_tau_samples: decay,
    smooth_samples: smooth % 2 === 1 ? smooth : smooth + 1,
    timing_fraction: o.timingFraction,
    threshold_sigma: o.thresholdSigma,
    noise_gain: trapezoidNoiseGain(rise, flatTop, decay),
  };
}

/**
 * Rms of the pole-zero corrected trapezoid's output for white input noise of rms 1: the root of the sum
 * of squares of its impulse response. An impulse at sample j adds 1/g to w[j] and (1-a)/g to every later
 * w (the correction integrates), so only samples within the two windows and the gap between them count:
 * earlier ones add the same to both windows.
 */
export function trapezoidNoiseGain(rise: number, flatTop: number, decayTau: number): number {
  const a = Math.exp(-1 / decayTau);
  const g = (1 - a) * decayTau;
  const span = 2 * rise + flatTop;
  // Sample positions 0..span-1: earlier window [0, rise), later window [rise + flatTop, span).
  const windowSum = (from: number, to: number, impulse: number): number => {
    let sum = 0;
    for (let i = from; i < to; i++) sum += i === impulse ? 1 / g : i > impulse ? (1 - a) / g : 0;
    return sum / (to - from);
  };
  let squares = 0;
  for (let j = 0; j < span; j++) {
    const c = windowSum(rise + flatTop, span, j) - windowSum(0, rise, j);
    squares += c * c;
  }
  return Math.sqrt(squares);
}

/** Fewest samples a trace needs for these parameters: the baseline, then room for one whole filter. */
export function minimumTraceSamples(p: DspParameters): number {
  return p.baseline_samples + 2 * p.rise_samples + p.flat_top_samples;
}
