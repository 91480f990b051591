import {basename, join, posix} from 'node:path';
import {parseDuration} from '../lib/config/index.js';
import {ConfigError, StepError} from '../lib/errors/index.js';
import {fileDigest} from '../lib/files/index.js';
import type {DataFileDoc, StepResult} from '../lib/pipeline/index.js';
import type {StepContext} from '../lib/runtime/index.js';
import {
  HOST_KEY_CHECKS, ProgressReporter, REMOTE_VERIFIES, SftpPool,
  type HostKeyCheck, type RemoteVerify, type SftpOptions,
} from '../lib/transfer/index.js';

/** The SFTP settings of a `[step.NAME]` section, checked. */
export interface SftpStepSettings extends SftpOptions {
  direction: 'push' | 'pull';
  /** `connections`: open at once to the host, per step. @default 2 */
  connections: number;
  /** `idle_timeout`: an unused connection closes after this long. @default 30 s */
  idleMs: number;
  /** `progress_interval`: time between two progress lines of a transfer. @default 5 s */
  progressMs: number;
}

/** The settings `transport = sftp` takes in a `[step.NAME]` section, each with what it means. */
export const SFTP_SETTINGS: Readonly<Record<string, string>> = {
  direction: 'push (this host sends to host) or pull (this host fetches from host)',
  host: 'the other host',
  port: 'its SSH port (default 22)',
  user: 'the SSH user',
  key_file: 'the private key',
  passphrase_env: 'the environment variable holding the key\'s passphrase',
  known_hosts_file: 'host keys are checked against it (default ~/.ssh/known_hosts)',
  host_key_check: 'yes, accept-new or off (default yes)',
  verify: 'read-back or command (default read-back)',
  connect_timeout: 'connecting, handshake and authentication (default 20s)',
  connections: 'SSH connections open at once to the host (default 2)',
  idle_timeout: 'an unused connection is closed after this long (default 30s)',
  progress_interval: 'time between two progress lines of a transfer (default 5s)',
};

/**
 * The SFTP settings of a `[step.NAME]` section, checked: a bad one is a ConfigError naming the section
 * and the key (move_to_sps checks them when its listener starts, so no document fails for them).
 */
export function sftpSettings(step: string, settings: Record<string, string>): SftpStepSettings {
  const where = `[step.${step}]`;
  const required = (key: string): string => {
    const value = settings[key];
    if (!value) throw new ConfigError(`${where} ${key} is not set (needed by transport = sftp)`);
    return value;
  };
  const oneOf = <T extends string>(key: string, allowed: readonly T[], fallback: T | undefined): T => {
    const value = settings[key] ?? fallback;
    if (value === undefined) throw new ConfigError(`${where} ${key} is not set (${allowed.join(' or ')})`);
    if (!allowed.includes(value as T)) throw new ConfigError(`${where} ${key} = ${value}: expected ${allowed.join(', ')}`);
    return value as T;
  };
  const duration = (key: string, fallback: number | undefined): number | undefined => {
    const value = settings[key];
    if (!value) return fallback;
    const ms = parseDuration(value, `${where} ${key}`);
    if (ms <= 0) throw new ConfigError(`${where} ${key} = ${value}: expected a duration above 0`);
    return ms;
  };
  const port = Number(settings.port ?? '22');
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new ConfigError(`${where} port = ${settings.port}: expected a port number`);
  const connections = Number(settings.connections ?? '2');
  if (!Number.isInteger(connections) || connections < 1) throw new ConfigError(`${where} connections = ${settings.connections}: expected a whole number of 1 or more`);
  let passphrase: string | undefined;
  if (settings.passphrase_env) {
    passphrase = process.env[settings.passphrase_env];
    if (passphrase === undefined) throw new ConfigError(`${where} passphrase_env = ${settings.passphrase_env}: that environment variable is not set`);
  }
  return {
    direction: oneOf('direction', ['push', 'pull'] as const, undefined),
    host: required('host'), port, user: required('user'), keyFile: required('key_file'), passphrase,
    knownHostsFile: settings.known_hosts_file || undefined,
    hostKeyCheck: oneOf<HostKeyCheck>('host_key_check', HOST_KEY_CHECKS, 'yes'),
    verify: oneOf<RemoteVerify>('verify', REMOTE_VERIFIES, 'read-back'),
    readyTimeoutMs: duration('connect_timeout', undefined),
    connections,
    idleMs: duration('idle_timeout', 30_000)!,
    progressMs: duration('progress_interval', 5000)!,
  };
}

/**
 * transport = sftp. `direction = push`: this host (the DAQ) sends `original_file` to
 * `target_dir/<run>/` on the remote host, verified there. `direction = pull`: this host (the centre)
 * fetches `original_file` from the remote host into its own `target_dir/<run>/`, hashed as written.
 * Connections come from `pools.sftp` (made on first use with this step's settings), so files to one
 * host share at most `connections` of them; a partial file left by an earlier attempt for this
 * document is resumed from once verified to be a prefix of the source.
 */
export async function transferOverSftp(doc: DataFileDoc, {step, input, settings, signal, log}: StepContext, pools: {sftp?: SftpPool}): Promise<StepResult> {
  if (!input) throw new StepError(`document ${doc._id} has no original_file to transfer`);
  if (!settings.target_dir) throw new StepError(`[step.${step}] target_dir is not set`);
  const {direction, connections, idleMs, progressMs, ...options} = sftpSettings(step, settings);
  const run = doc.run ?? 'unknown-run';
  let md5 = doc.md5sum;
  let bytes = doc.bytes;
  if (!md5) {
    if (direction === 'pull') throw new StepError(`document ${doc._id} has no md5sum: a pulled file cannot be verified`);
    // A document in the seed's shape may lack it: the DAQ's own file is then the reference.
    const local = await fileDigest(input, signal);
    if (!local) throw new StepError(`data file ${input} of document ${doc._id} does not exist`);
    ({md5, bytes} = local);
  }
  pools.sftp ??= new SftpPool({connectionsPerHost: connections, idleMs});
  const progress = new ProgressReporter({intervalMs: progressMs, emit: (line) => log.info('transfer progress', line)}).start();
  try {
    const {session, release} = await pools.sftp.acquire({...options, log}, {signal});
    try {
      const transfer = {signal, onProgress: progress.update, partialKey: doc._id, log};
      const result = direction === 'push'
        ? await session.push(input, posix.join(settings.target_dir, run), basename(input), {md5, bytes}, transfer)
        : await session.pull(input, join(settings.target_dir, run), posix.basename(input), {md5, bytes}, transfer);
      log.verbose(result.skipped ? 'already transferred' : 'transferred', {
        path: result.destination.path, bytes: result.bytes, seconds: result.seconds, bytes_per_second: result.bytes_per_second,
        ...(result.resumed ? {resumed_from: result.resumed_from} : {}),
      });
      return {
        outputs: [{path: result.destination.path, bytes: result.bytes, md5: result.md5}],
        transport: 'sftp', direction, source: result.source, destination: result.destination,
        bytes: result.bytes, md5: result.md5, seconds: result.seconds, bytes_per_second: result.bytes_per_second,
        verified: result.verified, reused: result.skipped, resumed: result.resumed, resumed_from: result.resumed_from,
      };
    } finally {
      release();
    }
  } finally {
    progress.stop();
  }
}
