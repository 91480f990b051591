import {homedir} from 'node:os';
import {join} from 'node:path';
import type {Logger} from '../log/index.js';

/** How a server's host key is checked against the known_hosts file (OpenSSH's StrictHostKeyChecking). */
export type HostKeyCheck = 'yes' | 'accept-new' | 'off';
/** How a pushed file is verified on the remote side before it gets its final name. */
export type RemoteVerify = 'read-back' | 'command';

export const HOST_KEY_CHECKS: readonly HostKeyCheck[] = ['yes', 'accept-new', 'off'];
export const REMOTE_VERIFIES: readonly RemoteVerify[] = ['read-back', 'command'];

/** Where and how to connect. One `SftpSession` is one SSH connection with one SFTP channel. */
export interface SftpOptions {
  host: string;
  /** @default 22 */
  port?: number;
  /** The account on the remote host. */
  user: string;
  /** Path of the private key (OpenSSH or PEM format). */
  keyFile: string;
  /** The key's passphrase, when it has one (the caller reads it from where it is kept, never from edw.ini). */
  passphrase?: string;
  /** @default ~/.ssh/known_hosts */
  knownHostsFile?: string;
  /**
   * `yes`: a host or key not in the file is refused. `accept-new`: a host not in the file is recorded,
   * a changed key refused. `off`: any key accepted, with a warning logged on every connection.
   * @default 'yes'
   */
  hostKeyCheck?: HostKeyCheck;
  /**
   * `read-back`: read the remote temporary file back over SFTP and hash it (works on SFTP-only
   * accounts). `command`: run `md5sum` on the remote host over the same connection (no second pass
   * over the link, needs an account allowed to run commands).
   * @default 'read-back'
   */
  verify?: RemoteVerify;
  /** How long the TCP connect, SSH handshake and authentication may take. @default 20000 */
  readyTimeoutMs?: number;
  /** SSH keepalive period; a connection that answers none of 3 in a row is dropped. 0 turns it off. @default 10000 */
  keepaliveIntervalMs?: number;
  /** Where warnings (host_key_check = off, a host recorded) and debug lines go. @default nothing is logged */
  log?: Logger;
}

export type ResolvedSftpOptions = Required<Omit<SftpOptions, 'passphrase' | 'log'>> & Pick<SftpOptions, 'passphrase' | 'log'>;

function fail(option: string, expected: string, got: unknown): never {
  throw new TypeError(`sftp: option ${option} must be ${expected}, got ${JSON.stringify(got) ?? String(got)}`);
}

/** Spread the defaults and check every option once; a bad one is a TypeError naming it, what it expects and what it got. */
export function resolveSftpOptions(options: SftpOptions): ResolvedSftpOptions {
  const merged: ResolvedSftpOptions = {
    port: 22,
    knownHostsFile: join(homedir(), '.ssh', 'known_hosts'),
    hostKeyCheck: 'yes',
    verify: 'read-back',
    readyTimeoutMs: 20_000,
    keepaliveIntervalMs: 10_000,
    ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined)),
  } as ResolvedSftpOptions;
  if (typeof merged.host !== 'string' || merged.host === '') fail('host', 'a host name or address', merged.host);
  if (!Number.isInteger(merged.port) || merged.port < 1 || merged.port > 65535) fail('port', 'a port number (1-65535)', merged.port);
  if (typeof merged.user !== 'string' || merged.user === '') fail('user', 'a user name', merged.user);
  if (typeof merged.keyFile !== 'string' || merged.keyFile === '') fail('keyFile', 'the path of a private key', merged.keyFile);
  if (merged.passphrase !== undefined && typeof merged.passphrase !== 'string') fail('passphrase', 'a string', typeof merged.passphrase);
  if (typeof merged.knownHostsFile !== 'string' || merged.knownHostsFile === '') fail('knownHostsFile', 'a path', merged.knownHostsFile);
  if (!HOST_KEY_CHECKS.includes(merged.hostKeyCheck)) fail('hostKeyCheck', HOST_KEY_CHECKS.join(', '), merged.hostKeyCheck);
  if (!REMOTE_VERIFIES.includes(merged.verify)) fail('verify', REMOTE_VERIFIES.join(', '), merged.verify);
  if (!Number.isFinite(merged.readyTimeoutMs) || merged.readyTimeoutMs <= 0) fail('readyTimeoutMs', 'a positive number of ms', merged.readyTimeoutMs);
  if (!Number.isFinite(merged.keepaliveIntervalMs) || merged.keepaliveIntervalMs < 0) fail('keepaliveIntervalMs', 'a number of ms (0: off)', merged.keepaliveIntervalMs);
  return merged;
}
