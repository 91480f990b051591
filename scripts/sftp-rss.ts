/**
 * `npm run sftp-rss`: how much memory a listener running move_to_sps over SFTP takes beyond its idle
 * figure while it moves one large file (issue 4: within 100 MB for 500 MB).
 *
 *   node dist/scripts/sftp-rss.js [--mb 500] [--direction push|pull|both] [--limit-mb 100] [--keep]
 *
 * For each direction it starts the OpenSSH fixture (scripts/support/sshd.ts) on a free loopback port,
 * an embedded database in a temp folder and, in this process, a listener for move_to_sps with
 * `transport = sftp`. A 1 MB file goes through first (so the SSH and SFTP code is loaded and a
 * connection is open), then the listener's RSS is read once it is idle. The peak is the kernel's
 * high-water mark (VmHWM, reset through /proc/self/clear_refs just before), or, where that cannot be
 * reset, the highest of samples taken every 20 ms. The peak covers registering the large file (its
 * md5 is read from disk), its transfer and its verification. Prints one line per direction and exits
 * 1 if a difference is above the limit (2 on bad usage or when it could not run).
 */
import {randomFillSync} from 'node:crypto';
import {createWriteStream} from 'node:fs';
import {mkdir, mkdtemp, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join, resolve} from 'node:path';
import {once} from 'node:events';
import {setTimeout as delay} from 'node:timers/promises';
import {pathToFileURL} from 'node:url';
import {loadSteps} from '../listeners/index.js';
import {loadConfig} from '../lib/config/index.js';
import {compileDesignDocs, DESIGN_DOCS_DIR, pushDesignDocs} from '../lib/design/index.js';
import {createLogger} from '../lib/log/index.js';
import type {DataFileDoc} from '../lib/pipeline/index.js';
import {registerFiles} from '../lib/register/index.js';
import {Runner, type StepEvent} from '../lib/runtime/index.js';
import {openStore} from '../lib/store/index.js';
import {startSshd} from './support/sshd.js';

export type Direction = 'push' | 'pull';

export interface SftpRssOptions {
  /** Size of the large file, in MB (2^20 bytes). @default 500 */
  megabytes?: number;
  /** @default ['push', 'pull'] */
  directions?: Direction[];
  /** Largest acceptable difference between peak and idle RSS, in MB. @default 100 */
  limitMb?: number;
  /** Keep the temp folders and say where they are. @default false */
  keep?: boolean;
  /** Where progress notes go. @default stderr */
  note?: (line: string) => void;
}

export interface SftpRssReport {
  direction: Direction;
  bytes: number;
  /** The transfer's own figure (the step's result). */
  seconds: number;
  bytesPerSecond: number;
  idleRss: number;
  peakRss: number;
  /** How the peak was read: the kernel's high-water mark, or samples every 20 ms. */
  peakFrom: 'VmHWM' | 'samples';
}

const MB = 1024 * 1024;

/** Write `bytes` random bytes to `path`, 1 MB at a time. */
async function randomFile(path: string, bytes: number): Promise<void> {
  const out = createWriteStream(path);
  const chunk = Buffer.alloc(Math.min(MB, bytes));
  for (let written = 0; written < bytes; written += chunk.length) {
    const part = chunk.subarray(0, Math.min(chunk.length, bytes - written));
    randomFillSync(part);
    if (!out.write(part)) await once(out, 'drain');
  }
  out.end();
  await once(out, 'finish');
}

async function highWaterMark(): Promise<number | undefined> {
  const status = await readFile('/proc/self/status', 'utf8').catch(() => '');
  const kb = /VmHWM:\s+(\d+) kB/.exec(status)?.[1];
  return kb === undefined ? undefined : Number(kb) * 1024;
}

/** Reset the kernel's peak RSS to the current RSS (Linux 4.0+); false where that is not possible. */
async function resetHighWaterMark(): Promise<boolean> {
  try {
    await writeFile('/proc/self/clear_refs', '5');
    return (await highWaterMark()) !== undefined;
  } catch {
    return false;
  }
}

function edwIni(dir: string, sshd: Awaited<ReturnType<typeof startSshd>>, direction: Direction): string {
  return `[database]
url = ${join(dir, 'db')}
[listen]
backoff = 100ms
[register]
settle = 0s
[log]
level = warn
[step.move_to_sps]
after = new
kind = move_to_sps
transport = sftp
direction = ${direction}
host = ${sshd.host}
port = ${sshd.port}
user = ${sshd.user}
key_file = ${sshd.userKeyFile}
known_hosts_file = ${sshd.knownHostsFile}
target_dir = ${join(dir, 'sps')}
concurrency = 1
attempts = 3
timeout = 1h
`;
}

/** Measure one direction. */
async function measure(direction: Direction, bytes: number, keep: boolean, note: (line: string) => void): Promise<SftpRssReport> {
  const dir = await mkdtemp(join(tmpdir(), `edw-sftp-rss-${direction}-`));
  const sshd = await startSshd();
  let runner: Runner | undefined;
  let store: Awaited<ReturnType<typeof openStore>> | undefined;
  try {
    await mkdir(join(dir, 'raw'));
    await writeFile(join(dir, 'edw.ini'), edwIni(dir, sshd, direction));
    const config = loadConfig({path: join(dir, 'edw.ini'), explicit: true, env: {}});
    store = await openStore({...config.database, create: true});
    await pushDesignDocs(store, await compileDesignDocs(DESIGN_DOCS_DIR));
    const warmUp = join(dir, 'raw', 'rss_000.edwr');
    const large = join(dir, 'raw', 'rss_001.edwr');
    note(`${direction}: writing ${bytes / MB} MB of random bytes to ${large}`);
    await randomFile(warmUp, MB);
    await randomFile(large, bytes);

    runner = new Runner({store, steps: await loadSteps(config.steps), log: createLogger({level: 'warn'}), heartbeatMs: 0, backoffMs: config.listen.backoffMs});
    const listener = runner.stepListeners[0]!;
    const outcome = (id: string) => new Promise<StepEvent>((resolve, reject) => {
      const onDone = (event: StepEvent) => event.id === id && resolve(event);
      const onFailed = (event: StepEvent) => event.id === id && reject(new Error(`${id} failed: ${event.entry.error?.message}`));
      listener.on('completed', onDone);
      listener.on('failed', onFailed);
    });
    const running = runner.run();
    running.catch(() => {});
    const warmedUp = outcome('rss_000');
    await registerFiles({store, paths: [warmUp], settleMs: 0});
    await warmedUp;
    // Idle: the warm-up is done and its connection waits in the pool; let timers and buffers settle.
    await delay(1000);
    const idleRss = process.memoryUsage().rss;
    const kernelPeak = await resetHighWaterMark();
    let sampled = process.memoryUsage().rss;
    const sampler = setInterval(() => {
      sampled = Math.max(sampled, process.memoryUsage().rss);
    }, 20);
    const done = outcome('rss_001');
    note(`${direction}: idle RSS ${(idleRss / MB).toFixed(1)} MB; registering and moving the large file`);
    try {
      await registerFiles({store, paths: [large], settleMs: 0});
      await done;
    } finally {
      clearInterval(sampler);
    }
    sampled = Math.max(sampled, process.memoryUsage().rss);
    const hwm = kernelPeak ? await highWaterMark() : undefined;
    const doc = (await store.get('rss_001')) as DataFileDoc;
    const result = doc.process.find((e) => e.status === 'done')?.result ?? {};
    if (result.md5 !== doc.md5sum || result.bytes !== bytes) throw new Error(`the step's result does not match the file: ${JSON.stringify(result)}`);
    return {
      direction, bytes, seconds: Number(result.seconds), bytesPerSecond: Number(result.bytes_per_second),
      idleRss, peakRss: Math.max(hwm ?? 0, sampled), peakFrom: hwm !== undefined ? 'VmHWM' : 'samples',
    };
  } finally {
    await runner?.stop().catch(() => {});
    await store?.close().catch(() => {});
    await sshd.stop();
    if (keep) note(`${direction}: kept ${dir}`);
    else await rm(dir, {recursive: true, force: true});
  }
}

/** Measure each direction in turn. Throws when it could not set up. */
export async function runSftpRss(options: SftpRssOptions = {}): Promise<SftpRssReport[]> {
  const megabytes = options.megabytes ?? 500;
  if (!Number.isInteger(megabytes) || megabytes < 1) throw new TypeError(`option megabytes must be a whole number of 1 or more, got ${String(megabytes)}`);
  const note = options.note ?? ((line: string) => process.stderr.write(`${line}\n`));
  const reports: SftpRssReport[] = [];
  for (const direction of options.directions ?? ['push', 'pull']) reports.push(await measure(direction, megabytes * MB, options.keep ?? false, note));
  return reports;
}

export function formatReport(r: SftpRssReport, limitMb: number): string {
  const mb = (bytes: number) => `${(bytes / MB).toFixed(1)} MB`;
  const difference = r.peakRss - r.idleRss;
  return `${r.direction}: ${mb(r.bytes)} in ${r.seconds} s (${mb(r.bytesPerSecond)}/s); idle RSS ${mb(r.idleRss)}, peak RSS ${mb(r.peakRss)} (${r.peakFrom}), difference ${mb(difference)} (limit ${limitMb} MB): ${difference <= limitMb * MB ? 'ok' : 'OVER'}`;
}

function parseArgs(argv: string[]): SftpRssOptions {
  const options: SftpRssOptions = {};
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i]!;
    if (arg === '--keep') {
      options.keep = true;
      continue;
    }
    const [flag, inline] = arg.split('=', 2) as [string, string | undefined];
    const value = inline ?? argv[++i];
    if (flag === '--direction') {
      if (value !== 'push' && value !== 'pull' && value !== 'both') throw new TypeError(`--direction ${value ?? ''}: expected push, pull or both`);
      options.directions = value === 'both' ? ['push', 'pull'] : [value];
    } else if (flag === '--mb' || flag === '--limit-mb') {
      const n = Number(value);
      if (value === undefined || !Number.isSafeInteger(n) || n < 1) throw new TypeError(`${flag} ${value ?? ''}: expected a whole number of 1 or more`);
      if (flag === '--mb') options.megabytes = n;
      else options.limitMb = n;
    } else {
      throw new TypeError(`unknown option ${arg} (options: --mb, --direction, --limit-mb, --keep)`);
    }
  }
  return options;
}

async function main(): Promise<number> {
  let options: SftpRssOptions;
  try {
    options = parseArgs(process.argv.slice(2));
  } catch (error) {
    process.stderr.write(`sftp-rss: ${(error as Error).message}\n`);
    return 2;
  }
  const limitMb = options.limitMb ?? 100;
  try {
    const reports = await runSftpRss(options);
    for (const report of reports) process.stdout.write(`${formatReport(report, limitMb)}\n`);
    return reports.every((r) => r.peakRss - r.idleRss <= limitMb * MB) ? 0 : 1;
  } catch (error) {
    process.stderr.write(`sftp-rss: could not run: ${(error as Error).message}\n`);
    return 2;
  }
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolve(process.argv[1])).href) {
  process.exitCode = await main();
}
