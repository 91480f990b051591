/**
 * A redis-server from the machine's packages (Debian's `redis-server`), started on a free loopback port
 * in a temp folder, for the bench's BullMQ comparison. Persistence as BullMQ's documentation asks of a
 * production queue: an append-only file fsynced every second, no eviction.
 */
import {spawn, spawnSync, type ChildProcess} from 'node:child_process';
import {mkdtemp, rm} from 'node:fs/promises';
import {tmpdir} from 'node:os';
import {join} from 'node:path';
import {findFreePort} from './couch-server.js';

export interface RedisServer {
  readonly host: string;
  readonly port: number;
  readonly pid: number | undefined;
  /** What answers, e.g. `Redis 7.0.15 (redis-server from the machine, appendfsync everysec)`. */
  readonly description: string;
  /** Stop the server and remove its folder. Idempotent. */
  stop(): Promise<void>;
}

export interface RedisServerOptions {
  /** The program to run. @default 'redis-server' (found on PATH) */
  command?: string;
  /** How long to wait for it to accept connections, in ms. @default 10000 */
  startTimeoutMs?: number;
}

/** The version redis-server prints, or undefined when it is not on this machine. */
export function redisServerVersion(command = 'redis-server'): string | undefined {
  const run = spawnSync(command, ['--version'], {encoding: 'utf8'});
  if (run.error || run.status !== 0) return undefined;
  return /v=(\S+)/.exec(run.stdout)?.[1] ?? 'unknown';
}

export async function startRedisServer(options: RedisServerOptions = {}): Promise<RedisServer> {
  const command = options.command ?? 'redis-server';
  const startTimeoutMs = options.startTimeoutMs ?? 10_000;
  const version = redisServerVersion(command);
  if (!version) throw new Error(`${command} is not on this machine (Debian's package: redis-server)`);
  const dir = await mkdtemp(join(tmpdir(), 'edw-bench-redis-'));
  const port = await findFreePort();
  const child: ChildProcess = spawn(command, [
    '--bind', '127.0.0.1', '--port', String(port), '--dir', dir, '--save', '',
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--maxmemory-policy', 'noeviction',
  ], {stdio: ['ignore', 'pipe', 'pipe']});
  let output = '';
  const exited = new Promise<number | null>((resolve) => child.once('exit', resolve));
  const ready = new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`redis-server did not start within ${startTimeoutMs} ms: ${output.slice(-300)}`)), startTimeoutMs);
    const watch = (chunk: Buffer): void => {
      output += chunk.toString('utf8');
      if (output.includes('Ready to accept connections')) {
        clearTimeout(timer);
        resolve();
      }
    };
    child.stdout!.on('data', watch);
    child.stderr!.on('data', watch);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`redis-server exited with code ${code} as it started: ${output.slice(-300)}`));
    });
  });
  let stopped = false;
  const stop = async (): Promise<void> => {
    if (stopped) return;
    stopped = true;
    if (child.exitCode === null && child.signalCode === null) {
      child.kill('SIGTERM');
      await exited;
    }
    await rm(dir, {recursive: true, force: true});
  };
  try {
    await ready;
  } catch (error) {
    await stop();
    throw error;
  }
  return {host: '127.0.0.1', port, pid: child.pid, description: `Redis ${version} (redis-server from the machine, appendonly, appendfsync everysec)`, stop};
}
