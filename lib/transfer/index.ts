/**
 * Moving files between hosts over SFTP (ssh2-sftp-client), verified by size and md5 before they get
 * their final name, resumed from a verified prefix after a dropped connection, with host keys checked
 * against a known_hosts file as OpenSSH does.
 *
 * ```ts
 * const session = await SftpSession.connect({host, port, user, keyFile}, {signal});
 * try {
 *   const result = await session.push(localPath, remoteDir, fileName, {bytes, md5}, {signal, onProgress, partialKey: docId});
 * } finally {
 *   await session.close();
 * }
 * ```
 */
export {SftpSession, type ConnectOptions} from './session.js';
export {HOST_KEY_CHECKS, REMOTE_VERIFIES, resolveSftpOptions, type HostKeyCheck, type RemoteVerify, type SftpOptions} from './options.js';
export {temporaryName, type ExpectedFile, type TransferEnd, type TransferOptions, type TransferProgress, type TransferResult} from './transfer.js';
export {checkHostKey, fingerprint, hostKeyName, hostsFieldMatches, parseKnownHosts, type HostKeyVerdict, type KnownHostEntry} from './known-hosts.js';
