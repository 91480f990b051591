/**
 * Pulse processing of raw traces: baseline, pole-zero corrected trapezoidal amplitude, leading-edge
 * timing (docs/raw-format.md), applied file by file into JSON Lines results.
 */
export {DSP_DEFAULTS, minimumTraceSamples, resolveDspParameters, type DspOptions, type DspParameters} from './options.js';
export {analyzeTrace, type TraceAnalysis} from './trace-analysis.js';
export {processRawFile, type ProcessSummary} from './process.js';
export {formatPulseLine, parsePulseLine, readPulses, type PulseRecord, type ReadPulsesOptions} from './results.js';
