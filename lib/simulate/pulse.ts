/** The shape of a simulated bolometer pulse: a fast exponential rise and a slow exponential decay. */
export interface PulseShape {
  /** Rise time constant, seconds. */
  riseTauSeconds: number;
  /** Decay time constant, seconds. */
  decayTauSeconds: number;
}

/**
 * Pulse height above baseline, `t` seconds after onset, for amplitude `amplitude`:
 * `A · τd/(τd − τr) · (exp(−t/τd) − exp(−t/τr))`, zero before onset.
 *
 * The amplitude is the height of the instantaneous-rise exponential `A·exp(−t/τd)` with the same
 * integral (`A·τd`). That is what a pole-zero corrected filter measures (docs/raw-format.md); the peak
 * of the pulse is lower, see {@link peakFraction}.
 */
export function pulseValue(amplitude: number, tSeconds: number, shape: PulseShape): number {
  if (tSeconds <= 0) return 0;
  const {riseTauSeconds: rise, decayTauSeconds: decay} = shape;
  return ((amplitude * decay) / (decay - rise)) * (Math.exp(-tSeconds / decay) - Math.exp(-tSeconds / rise));
}

/** Peak height of a pulse of amplitude 1 (below 1: the pulse decays while it rises). */
export function peakFraction(shape: PulseShape): number {
  const {riseTauSeconds: rise, decayTauSeconds: decay} = shape;
  const peakSeconds = (Math.log(decay / rise) * rise * decay) / (decay - rise);
  return pulseValue(1, peakSeconds, shape);
}
