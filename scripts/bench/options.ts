/** The bench's command-line options, parsed and checked once. */
import {parseArgs} from 'node:util';
import type {BackendName} from './backends.js';

export interface BenchOptions {
  /** Documents in the registration and chain figures. @default 10000 (100000 with --full) */
  docs: number;
  /** A server root with admin credentials; default EDW_TEST_COUCHDB_URL, else a pouchdb-server the bench starts. */
  url?: string;
  /** Backends to measure. @default both */
  only: BackendName[];
  /** Whether to run BullMQ's chain and trickle too (only where redis-server is installed). @default true unless --only names a backend */
  bullmq: boolean;
  /** Where the JSON goes. @default bench/results.json (bench/status.json with --status-only) */
  out: string;
  /** Each no-op step's concurrency in the chain and the trickle. @default 16 */
  concurrency: number;
  /** Only the `edw status` study (at `statusDocs` documents), not the main figures. @default false */
  statusOnly: boolean;
  /** Documents in the status study. @default 100000 */
  statusDocs: number;
  /** Only the lineage timing (`edw lineage` over `lineageDetections` detections, embedded). @default false */
  lineageOnly: boolean;
  /** Detections in the lineage timing. @default 100000 */
  lineageDetections: number;
  /** Only the `edw query` study (at `queryDocs` documents). @default false */
  queryOnly: boolean;
  /** Documents in the query study. @default 100000 */
  queryDocs: number;
  /** Only the edw serve study (at `serveDocs` documents), not the main figures. @default false */
  serveOnly: boolean;
  /** Documents in the serve study. @default 100000 */
  serveDocs: number;
  full: boolean;
}

export const USAGE = `usage: npm run bench -- [options]
  --full               100,000 documents in the chain (default 10,000)
  --docs N             documents in the registration and chain figures (quick runs)
  --url URL            a CouchDB-compatible server root with admin credentials (http://admin:pw@host:5984/);
                       default EDW_TEST_COUCHDB_URL, else a pouchdb-server on disk started by the bench
  --only WHAT          embedded, server or bullmq (default: all three; BullMQ only where redis-server is
                       installed, on a redis-server the bench starts)
  --out PATH           where to write the JSON (default bench/results.json; bench/status.json with --status-only,
                       bench/serve.json with --serve-only)
  --concurrency N      each no-op step's concurrency (default 16)
  --status-only        only time three ways of counting documents per stage (edw status) at --status-docs documents
  --status-docs N      documents in the status study (default 100000)
  --lineage-only       only time edw lineage of a detection on the embedded database holding --lineage-detections
  --lineage-detections N  detections in the lineage timing (default 100000)
  --query-only         only time edw query answering a 1% filter at --query-docs documents (bench/query.json)
  --query-docs N       documents in the query study (default 100000)
  --serve-only         only edw serve under load: /api/v1/status and documents pages at 50 concurrent clients,
                       server-sent events to 100 clients, at --serve-docs documents, on each backend of
                       --only (not part of the default run: it writes 100,000 documents per backend)
  --serve-docs N       documents in the serve study (default 100000)`;

/** Parse argv; throws a TypeError naming the bad option (the bench exits 2 on it). */
export function parseBenchOptions(argv: string[]): BenchOptions | 'help' {
  const {values} = parseArgs({
    args: argv,
    strict: true,
    options: {
      full: {type: 'boolean', default: false},
      docs: {type: 'string'},
      url: {type: 'string'},
      only: {type: 'string'},
      out: {type: 'string'},
      concurrency: {type: 'string'},
      'status-only': {type: 'boolean', default: false},
      'status-docs': {type: 'string'},
      'lineage-only': {type: 'boolean', default: false},
      'lineage-detections': {type: 'string'},
      'query-only': {type: 'boolean', default: false},
      'query-docs': {type: 'string'},
      'serve-only': {type: 'boolean', default: false},
      'serve-docs': {type: 'string'},
      help: {type: 'boolean', short: 'h', default: false},
    },
  });
  if (values.help) return 'help';
  const whole = (name: string, value: string | undefined, fallback: number, min: number): number => {
    if (value === undefined) return fallback;
    const n = Number(value);
    if (!Number.isSafeInteger(n) || n < min) throw new TypeError(`--${name} ${value}: expected a whole number of at least ${min}`);
    return n;
  };
  if (values.only !== undefined && !['embedded', 'server', 'bullmq'].includes(values.only)) {
    throw new TypeError(`--only ${values.only}: expected embedded, server or bullmq`);
  }
  if (values.url !== undefined && !/^https?:\/\//i.test(values.url)) throw new TypeError('--url: expected an http(s) URL of a server root');
  const statusOnly = values['status-only']!;
  const queryOnly = values['query-only']!;
  const serveOnly = values['serve-only']!;
  const lineageOnly = values['lineage-only']!;
  const studies = Object.entries({'--status-only': statusOnly, '--query-only': queryOnly, '--serve-only': serveOnly, '--lineage-only': lineageOnly}).filter(([, on]) => on);
  if (studies.length > 1) throw new TypeError(`${studies.map(([name]) => name).join(' and ')}: one study at a time`);
  return {
    full: values.full!,
    docs: whole('docs', values.docs, values.full ? 100_000 : 10_000, 10),
    url: values.url,
    only: values.only === 'bullmq' ? [] : values.only ? [values.only as BackendName] : ['embedded', 'server'],
    bullmq: values.only === undefined || values.only === 'bullmq',
    out: values.out ?? (statusOnly ? 'bench/status.json' : queryOnly ? 'bench/query.json' : serveOnly ? 'bench/serve.json' : lineageOnly ? 'bench/lineage.json' : 'bench/results.json'),
    concurrency: whole('concurrency', values.concurrency, 16, 1),
    statusOnly,
    statusDocs: whole('status-docs', values['status-docs'], 100_000, 10),
    queryOnly,
    queryDocs: whole('query-docs', values['query-docs'], 100_000, 100),
    lineageOnly,
    lineageDetections: whole('lineage-detections', values['lineage-detections'], 100_000, 100),
    serveOnly,
    serveDocs: whole('serve-docs', values['serve-docs'], 100_000, 200),
  };
}
