/** The built-in steps a `kind` can name. */
export const BUILTIN_KINDS = ['move_to_sps', 'signal_processing', 'ingest_detections'] as const;
export type BuiltinKind = (typeof BUILTIN_KINDS)[number];

/**
 * The keys every `[step.NAME]` section may hold; any other key must be one of the step's own
 * settings, which the step declares (listeners/index.ts checks them when a listener starts).
 */
export const COMMON_STEP_KEYS = ['after', 'kind', 'command', 'module', 'version', 'concurrency', 'attempts', 'timeout'] as const;

export interface DatabaseConfig {
  /** A server URL naming the database (`http://host:5984/edw`) or an absolute folder (embedded). */
  url: string;
  user?: string;
  password?: string;
  /** How long one request may take beyond its own long-poll wait. */
  requestTimeoutMs: number;
}

export interface LogConfig {
  level: 'error' | 'warn' | 'info' | 'verbose' | 'debug';
  format: 'text' | 'json';
}

export interface RegisterConfig {
  /** Glob (file name only) of the data files a directory holds. */
  glob: string;
  /** Files modified more recently than this are skipped when registering a directory. */
  settleMs: number;
  /** Regular expression whose first group, applied to the file's base name without extension, is the run. */
  runPattern: RegExp;
  /** Documents per `_bulk_docs` request. */
  batchSize: number;
}

export interface ListenConfig {
  /** How long a claim holds a document before another listener may take it over. */
  leaseMs: number;
  /** Long-poll wait of one feed request. */
  pollMs: number;
  /** How long a stopping listener lets running steps finish. */
  stopTimeoutMs: number;
  /** First retry delay after a retryable step failure, doubled per attempt. */
  backoffMs: number;
  /** Cap on the retry delay. */
  maxBackoffMs: number;
  /** Interval between refreshes of the stage counts kept for `edw status` on PouchDB-based databases; 0 keeps none. */
  countsMs: number;
  /** Interval between sweeps for documents with replication conflicts (one listener process per database sweeps); 0 sweeps none. */
  conflictsMs: number;
  /** `edw listeners` forgets (deletes the heartbeat documents of) listeners stopped or silent for longer than this. */
  forgetAfterMs: number;
}

export interface QueryConfig {
  /** How long a cached answer of `edw query` is returned without asking the database again. */
  freshMs: number;
  /** Fields indexed for `edw query` beyond the built-in ones (run, datecreated). */
  indexes: string[];
}

export interface ServeConfig {
  /** Address `edw serve` listens on (loopback by default: reading needs no login there). */
  host: string;
  /** Port `edw serve` listens on; 0 picks a free one. */
  port: number;
  /** The token that makes a request an operator's on every backend (`Authorization: Bearer ...`). */
  operatorToken?: string;
  /** With a CouchDB server: the users with this role are operators. */
  operatorRole: string;
  /**
   * The reverse proxies whose `X-Forwarded-For` is believed (fastify's trustProxy): addresses, CIDRs
   * and range names. Unset: none; the client's address is the connection's.
   */
  trustProxy?: string[];
}

export interface StepConfig {
  name: string;
  /** The stage this step follows: `new` or another step's name. */
  after: string;
  kind?: BuiltinKind;
  /** A command line with {input}, {output_dir} and {id} placeholders. */
  command?: string;
  /** Path of a module exporting a step (`export default {name, version, run}` or `export const step`). */
  module?: string;
  /** Step version recorded in each entry; required for commands, overrides a built-in's own. */
  version?: string;
  concurrency: number;
  attempts: number;
  timeoutMs: number;
  /**
   * The folder relative paths of this section were resolved against (the config file's folder, or the
   * working directory when no config file is in use); a command step's relative executable is found,
   * and the command runs, there.
   */
  dir: string;
  /** Every key of the step's section, as written (paths ending in _dir, _file or _path, and module, made absolute). */
  settings: Record<string, string>;
}

export interface Config {
  /** The edw.ini that was read, if any. */
  file?: string;
  database: DatabaseConfig;
  log: LogConfig;
  register: RegisterConfig;
  listen: ListenConfig;
  query: QueryConfig;
  serve: ServeConfig;
  /** Steps in chain order: the first follows `new`, each next one follows the one before. */
  steps: StepConfig[];
  /** Notes about the file to show the user once (e.g. a seed setting that edw ignores). */
  notes: string[];
}
