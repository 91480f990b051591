export {checkpointPath, runExport, type ExportOptions, type ExportReport} from './export.js';
export {csvColumns, csvLine, isRecord, recordColumns, type ExportFormat, type ExportKind} from './records.js';
