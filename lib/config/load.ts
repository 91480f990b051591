import {existsSync, readFileSync} from 'node:fs';
import {dirname, isAbsolute, resolve} from 'node:path';
import {fileURLToPath} from 'node:url';
import ini from 'ini';
import {ConfigError} from '../errors/index.js';
import {parseDuration} from './duration.js';
import {parseTrustProxy} from './trust-proxy.js';
import {BUILTIN_KINDS, type BuiltinKind, type Config, type LogConfig, type StepConfig} from './types.js';

type Section = Record<string, string>;
interface Parsed {
  sections: Record<string, Section>;
  steps: Record<string, Section>;
  file: string;
}

export interface LoadConfigOptions {
  /** Path of edw.ini. @default ./edw.ini in the working directory (not an error when missing) */
  path?: string;
  /** The path was asked for by the user (`--config`), so a missing file is an error. @default false */
  explicit?: boolean;
  /** Environment to read EDW_DB_URL, EDW_DB_USER, EDW_DB_PASSWORD, EDW_LOG_LEVEL, EDW_OPERATOR_TOKEN from. @default process.env */
  env?: NodeJS.ProcessEnv;
  /**
   * Working directory: where ./edw.ini is looked for, what relative paths mean when no config file is
   * in use, and what a relative EDW_DB_URL always means. @default process.cwd()
   */
  cwd?: string;
}

/** The defaults that ship with edw (`config/defaults.ini`). */
export const DEFAULTS_FILE = fileURLToPath(new URL(import.meta.url.includes('/dist/') ? '../../../config/defaults.ini' : '../../config/defaults.ini', import.meta.url));

const KNOWN: Record<string, string[]> = {
  database: ['url', 'user', 'password', 'request_timeout'],
  log: ['level', 'format'],
  register: ['glob', 'settle', 'run_pattern', 'batch_size'],
  listen: ['lease', 'poll', 'stop_timeout', 'backoff', 'max_backoff', 'counts', 'conflicts', 'forget_after'],
  query: ['fresh', 'indexes'],
  serve: ['host', 'port', 'operator_token', 'operator_role', 'trust_proxy'],
  cloudant: ['server', 'dbname', 'username', 'password', 'viewname'],
};

/** `[query] indexes`: field paths separated by commas (`facility, conditions.temperature`). */
function indexFields({value, where}: {value: string; where: string}): string[] {
  const fields = value.split(',').map((f) => f.trim()).filter(Boolean);
  const bad = fields.find((f) => !/^[A-Za-z_$][\w$-]*(\.[\w$-]+)*$/.test(f));
  if (bad !== undefined) throw new ConfigError(`${where} = ${value}: '${bad}' is not a field path (like conditions.temperature)`);
  return fields;
}

/** Check every line is a section, a comment or `key = value`, so a typo is named with its line. */
function checkLines(text: string, file: string): void {
  text.split(/\r?\n/).forEach((line, i) => {
    const t = line.trim();
    if (t === '' || t.startsWith(';') || t.startsWith('#')) return;
    if (/^\[[^\]]+\]$/.test(t)) return;
    if (/^[^=]+=/.test(t)) return;
    throw new ConfigError(`${file}:${i + 1}: expected [section] or key = value, found '${t.slice(0, 40)}'`);
  });
}

function parseFile(file: string): Parsed {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (error) {
    throw new ConfigError(`cannot read config ${file}: ${(error as NodeJS.ErrnoException).code ?? 'unreadable'}`, {cause: error});
  }
  checkLines(text, file);
  const raw = ini.parse(text) as Record<string, unknown>;
  const sections: Record<string, Section> = {};
  const steps: Record<string, Section> = {};
  const flatten = (value: unknown, where: string): Section => {
    const out: Section = {};
    for (const [k, v] of Object.entries(value as Record<string, unknown>)) {
      if (typeof v === 'object' && v !== null) throw new ConfigError(`${file}: [${where}.${k}] is not a known section`);
      out[k] = String(v);
    }
    return out;
  };
  for (const [name, value] of Object.entries(raw)) {
    if (typeof value !== 'object' || value === null) throw new ConfigError(`${file}: ${name} = ... must be inside a [section]`);
    if (name === 'step') {
      for (const [step, body] of Object.entries(value as Record<string, unknown>)) {
        if (typeof body !== 'object' || body === null) throw new ConfigError(`${file}: [step] needs a name, like [step.move_to_sps]`);
        steps[step] = flatten(body, `step.${step}`);
      }
      continue;
    }
    const key = name.toLowerCase();
    if (!KNOWN[key]) throw new ConfigError(`${file}: unknown section [${name}] (known: ${Object.keys(KNOWN).filter((k) => k !== 'cloudant').join(', ')}, step.NAME)`);
    sections[key] = flatten(value, name);
    for (const k of Object.keys(sections[key]!)) {
      if (!KNOWN[key]!.includes(k)) throw new ConfigError(`${file}: unknown setting ${k} in [${name}] (known: ${KNOWN[key]!.join(', ')})`);
    }
  }
  return {sections, steps, file};
}

function absolute(path: string, base: string): string {
  return isAbsolute(path) ? path : resolve(base, path);
}

function positiveInt(value: string, where: string): number {
  const n = Number(value);
  if (!Number.isInteger(n) || n < 1) throw new ConfigError(`${where} = ${value}: expected a whole number of at least 1`);
  return n;
}

function stepConfig(name: string, section: Section, base: string, where: string): StepConfig {
  if (!/^[a-z][a-z0-9_]*$/.test(name) || name === 'new') throw new ConfigError(`${where}: step name '${name}' must be snake_case and not 'new'`);
  const ways = ['kind', 'command', 'module'].filter((k) => section[k] !== undefined && section[k] !== '');
  if (ways.length !== 1) throw new ConfigError(`${where} [step.${name}]: give exactly one of kind, command or module (found ${ways.length ? ways.join(', ') : 'none'})`);
  if (section.kind !== undefined && !BUILTIN_KINDS.includes(section.kind as BuiltinKind)) {
    throw new ConfigError(`${where} [step.${name}]: kind = ${section.kind} is not a built-in step (${BUILTIN_KINDS.join(', ')})`);
  }
  if (section.command !== undefined && !section.version) throw new ConfigError(`${where} [step.${name}]: a command step needs a version`);
  if (!section.after) throw new ConfigError(`${where} [step.${name}]: after is missing (new, or the step it follows)`);
  const settings: Section = {};
  for (const [k, v] of Object.entries(section)) {
    // An empty path stays empty (so the step can say it is not set) rather than becoming the base folder.
    settings[k] = v !== '' && (/(_dir|_file|_path)$/.test(k) || k === 'module') ? absolute(v, base) : v;
  }
  return {
    name,
    after: section.after,
    ...(section.kind ? {kind: section.kind as BuiltinKind} : {}),
    ...(section.command ? {command: section.command} : {}),
    ...(section.module ? {module: settings.module} : {}),
    ...(section.version ? {version: section.version} : {}),
    concurrency: positiveInt(section.concurrency ?? '1', `[step.${name}] concurrency`),
    attempts: positiveInt(section.attempts ?? '3', `[step.${name}] attempts`),
    timeoutMs: parseDuration(section.timeout ?? '10m', `[step.${name}] timeout`),
    dir: base,
    settings,
  };
}

/** Order steps into one chain from `new`; each stage is followed by at most one step. */
function chain(steps: StepConfig[], where: string): StepConfig[] {
  const byAfter = new Map<string, StepConfig>();
  for (const step of steps) {
    const other = byAfter.get(step.after);
    if (other) throw new ConfigError(`${where}: steps ${other.name} and ${step.name} both follow ${step.after}; each stage is followed by one step`);
    byAfter.set(step.after, step);
  }
  const ordered: StepConfig[] = [];
  for (let step = byAfter.get('new'); step; step = byAfter.get(step.name)) ordered.push(step);
  const orphan = steps.find((s) => !ordered.includes(s));
  if (orphan) throw new ConfigError(`${where} [step.${orphan.name}]: after = ${orphan.after} does not lead back to new`);
  return ordered;
}

/**
 * Read edw.ini (if any) over the shipped defaults, then the environment, into one validated Config.
 *
 * Relative paths follow one rule: with a config file in use they are relative to its folder, the
 * shipped defaults' (`./data/edw`, `./data/sps`, ...) included, so `cd / && edw --config
 * /srv/edw/edw.ini listen` finds /srv/edw/data/edw; without one, relative to the working directory.
 * A relative EDW_DB_URL, like any path typed in a shell, is relative to the working directory.
 */
export function loadConfig(options: LoadConfigOptions = {}): Config {
  const cwd = options.cwd ?? process.cwd();
  const env = options.env ?? process.env;
  const defaults = parseFile(DEFAULTS_FILE);
  const path = resolve(cwd, options.path ?? 'edw.ini');
  let user: Parsed | undefined;
  if (existsSync(path)) user = parseFile(path);
  else if (options.explicit) throw new ConfigError(`config file ${path} does not exist`);
  const base = user ? dirname(user.file) : cwd;
  const notes: string[] = [];

  const pick = (section: string, key: string): {value: string; where: string} => {
    const u = user?.sections[section]?.[key];
    if (u !== undefined) return {value: u, where: `${user!.file} [${section}] ${key}`};
    return {value: defaults.sections[section]?.[key] ?? '', where: `[${section}] ${key}`};
  };

  // The seed's [Cloudant] section: server + dbname name the database; viewname is edw's own business.
  let url = pick('database', 'url');
  let dbUser = user?.sections.database?.user;
  let dbPassword = user?.sections.database?.password;
  const seed = user?.sections.cloudant;
  if (seed && user?.sections.database?.url === undefined) {
    if (!seed.server || !seed.dbname) throw new ConfigError(`${user!.file} [Cloudant]: server and dbname are both needed`);
    url = {value: `${seed.server.replace(/\/+$/, '')}/${encodeURIComponent(seed.dbname)}`, where: `${user!.file} [Cloudant]`};
    dbUser ??= seed.username;
    dbPassword ??= seed.password;
    if (seed.viewname) notes.push(`${user!.file} [Cloudant] viewname is not used: edw queries its own design document _design/edw (run 'edw push-design')`);
  }
  // An empty value would resolve to the config's own folder and quietly create a database there.
  if (!url.value.trim()) throw new ConfigError(`${url.where}: is empty; name a folder for the embedded database or an http(s):// server URL`);
  let dbUrl = /^https?:\/\//i.test(url.value) ? url.value : absolute(url.value, base);
  if (env.EDW_DB_URL) dbUrl = /^https?:\/\//i.test(env.EDW_DB_URL) ? env.EDW_DB_URL : absolute(env.EDW_DB_URL, cwd);
  if (env.EDW_DB_USER) dbUser = env.EDW_DB_USER;
  if (env.EDW_DB_PASSWORD) dbPassword = env.EDW_DB_PASSWORD;

  const duration = (section: string, key: string): number => {
    const {value, where} = pick(section, key);
    return parseDuration(value, where);
  };
  const level = env.EDW_LOG_LEVEL ?? pick('log', 'level').value;
  if (!['error', 'warn', 'info', 'verbose', 'debug'].includes(level)) throw new ConfigError(`log level ${level} is not one of error, warn, info, verbose, debug`);
  const format = pick('log', 'format').value;
  if (format !== 'text' && format !== 'json') throw new ConfigError(`[log] format = ${format}: expected text or json`);
  const pattern = pick('register', 'run_pattern');
  let runPattern: RegExp;
  try {
    runPattern = new RegExp(pattern.value);
  } catch {
    throw new ConfigError(`${pattern.where} = ${pattern.value}: not a valid regular expression`);
  }

  const port = pick('serve', 'port');
  if (!/^\d+$/.test(port.value) || Number(port.value) > 65535) throw new ConfigError(`${port.where} = ${port.value}: expected a port number, 0 to 65535`);
  const operatorToken = env.EDW_OPERATOR_TOKEN || user?.sections.serve?.operator_token || undefined;
  // A short token is guessable; the check stays here so that a bad one is named before anything starts.
  if (operatorToken !== undefined && operatorToken.length < 16) {
    throw new ConfigError(`${env.EDW_OPERATOR_TOKEN ? 'EDW_OPERATOR_TOKEN' : `${user!.file} [serve] operator_token`}: too short (${operatorToken.length} characters); give at least 16, e.g. from 'openssl rand -hex 16'`);
  }

  const trustProxy = parseTrustProxy(pick('serve', 'trust_proxy'));

  const stepSource = user && Object.keys(user.steps).length > 0 ? user : defaults;
  const steps = chain(
    // A step section's keys beyond the common ones are the step's own settings, passed to it as they are;
    // the step declares which it takes and checks them when a listener starts (listeners/index.ts).
    Object.entries(stepSource.steps).map(([name, section]) => stepConfig(name, section, base, stepSource.file)),
    stepSource.file,
  );

  return {
    ...(user ? {file: user.file} : {}),
    database: {
      url: dbUrl,
      ...(dbUser ? {user: dbUser} : {}),
      ...(dbPassword ? {password: dbPassword} : {}),
      requestTimeoutMs: duration('database', 'request_timeout'),
    },
    log: {level: level as LogConfig['level'], format},
    register: {
      glob: pick('register', 'glob').value,
      settleMs: duration('register', 'settle'),
      runPattern,
      batchSize: positiveInt(pick('register', 'batch_size').value, 'register batch_size'),
    },
    listen: {
      leaseMs: duration('listen', 'lease'),
      pollMs: duration('listen', 'poll'),
      stopTimeoutMs: duration('listen', 'stop_timeout'),
      backoffMs: duration('listen', 'backoff'),
      maxBackoffMs: duration('listen', 'max_backoff'),
      countsMs: duration('listen', 'counts'),
      conflictsMs: duration('listen', 'conflicts'),
      forgetAfterMs: duration('listen', 'forget_after'),
    },
    query: {
      freshMs: duration('query', 'fresh'),
      indexes: indexFields(pick('query', 'indexes')),
    },
    serve: {
      host: pick('serve', 'host').value,
      port: Number(port.value),
      ...(operatorToken !== undefined ? {operatorToken} : {}),
      operatorRole: pick('serve', 'operator_role').value,
      ...(trustProxy !== undefined ? {trustProxy} : {}),
    },
    steps,
    notes,
  };
}
