/**
 * edw's raw data-file format, `.edwr`: a fixed preamble, a JSON header, then fixed-size trace records.
 * docs/raw-format.md describes it byte by byte.
 */
export {
  RAW_EXTENSION,
  RAW_FORMAT_VERSION,
  RAW_MAGIC,
  bytesPerSample,
  expectedFileBytes,
  traceRecordBytes,
  type RawHeader,
  type RawTrace,
  type SampleFormat,
} from './format.js';
export {encodeRawHeader, writeRawFile, type RawTraceInput, type WriteRawOptions, type WriteRawResult} from './writer.js';
export {openRawFile, readRawTraces, type RawFileReader, type RawReaderOptions, type RawTraceRecord} from './reader.js';
