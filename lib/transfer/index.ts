/**
 * Moving files between hosts over SFTP (ssh2-sftp-client), verified by size and md5 before they get
 * their final name, resumed from a verified prefix after a dropped connection, over connections
 * reused and bounded per host, with host keys checked against a known_hosts file as OpenSSH does.
 *
 * ```ts
 * const pool = new SftpPool({connectionsPerHost: 2, idleMs: 30_000});
 * const {session, release} = await pool.acquire({host, port, user, keyFile}, {signal});
 * try {
 *   const result = await session.push(localPath, remoteDir, fileName, {bytes, md5}, {signal, onProgress, partialKey: docId});
 * } finally {
 *   release();
 * }
 * await pool.close();
 * ```
 */
export {SftpSession, type ConnectOptions} from './session.js';
export {SftpPool, type AcquireOptions, type PooledSession, type SftpPoolOptions} from './pool.js';
export {HOST_KEY_CHECKS, REMOTE_VERIFIES, resolveSftpOptions, type HostKeyCheck, type RemoteVerify, type SftpOptions} from './options.js';
export {ProgressReporter, type ProgressLine, type ProgressReporterOptions} from './progress.js';
export {temporaryName, type ExpectedFile, type TransferEnd, type TransferOptions, type TransferProgress, type TransferResult} from './transfer.js';
export {checkHostKey, fingerprint, hostKeyName, hostsFieldMatches, parseKnownHosts, type HostKeyVerdict, type KnownHostEntry} from './known-hosts.js';
