import {readFile} from 'node:fs/promises';
import {Socket} from 'node:net';
import SftpClient from 'ssh2-sftp-client';
import {StepError} from '../errors/index.js';
import {hostKeyPolicy} from './host-key.js';
import {pullFile} from './pull.js';
import {pushFile} from './push.js';
import type {ExpectedFile, TransferOptions, TransferResult} from './transfer.js';
import {isNetworkError} from './network-error.js';
import {resolveSftpOptions, type ResolvedSftpOptions, type SftpOptions} from './options.js';

export interface ConnectOptions {
  /** Abandons the connection attempt (the socket is destroyed). */
  signal?: AbortSignal;
}

function abortError(signal: AbortSignal): Error {
  return signal.reason instanceof Error ? signal.reason : new DOMException('This operation was aborted', 'AbortError');
}

/**
 * One SSH connection with one SFTP channel. Every operation through `guard` is raced against the
 * channel's end and the caller's signal: a killed SFTP server (internal-sftp) closes the channel but
 * leaves ssh2's pending requests and streams waiting forever, so nothing may wait on them alone.
 * Once the connection or the channel is gone the session is dead: open a new one.
 */
export class SftpSession {
  readonly options: ResolvedSftpOptions;
  /** `host:port`, for messages. */
  readonly where: string;
  readonly #client: SftpClient;
  #gone: StepError | undefined;
  #socketClosed = false;
  readonly #goneListeners = new Set<(error: StepError) => void>();
  #closing: Promise<void> | undefined;

  private constructor(client: SftpClient, options: ResolvedSftpOptions) {
    this.#client = client;
    this.options = options;
    this.where = `${options.host}:${options.port}`;
  }

  /** Connect, check the host key, authenticate and open the SFTP channel. Failures are StepErrors, retryable when the network is to blame. */
  static async connect(sftpOptions: SftpOptions, {signal}: ConnectOptions = {}): Promise<SftpSession> {
    const options = resolveSftpOptions(sftpOptions);
    const {host, port, user, keyFile, log} = options;
    const where = `${host}:${port}`;
    signal?.throwIfAborted();
    let privateKey: Buffer;
    try {
      privateKey = await readFile(keyFile);
    } catch (error) {
      throw new StepError(`cannot read the private key ${keyFile} for ${user}@${where}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {cause: error});
    }
    const policy = await hostKeyPolicy(options);
    // The client's default callbacks print to the console; errors reach us through connect() and the events below.
    const client = new SftpClient('edw', {
      error: (error) => log?.debug('ssh error', {host: where, error: error.message}),
      end: () => log?.debug('ssh connection ended', {host: where}),
      close: () => log?.debug('ssh connection closed', {host: where}),
    });
    const session = new SftpSession(client, options);
    let lastError: Error | undefined;
    client.client.on('error', (error: Error) => {
      lastError ??= error;
      session.#markGone(session.#lostError(error));
    });
    client.client.on('close', () => {
      session.#socketClosed = true;
      session.#markGone(new StepError(`connection to ${where} closed`, {retryable: true}));
    });
    // Our own socket, so Nagle's algorithm is off before the first byte: with it on, each 64 KB
    // SFTP chunk waits ~40 ms for an ACK and transfers run some 40 times slower.
    const sock = new Socket();
    sock.setNoDelay(true);
    const onAbort = () => {
      sock.destroy();
      session.#markGone(new StepError(`connection to ${where} abandoned`, {cause: signal?.reason}));
    };
    signal?.addEventListener('abort', onAbort, {once: true});
    try {
      const connecting = client.connect({
        sock, username: user, privateKey, passphrase: options.passphrase,
        readyTimeout: options.readyTimeoutMs,
        keepaliveInterval: options.keepaliveIntervalMs, keepaliveCountMax: 3,
        hostVerifier: (key, verify) => {
          policy.verify(key, verify);
        },
        algorithms: {serverHostKey: policy.algorithms},
      });
      sock.connect(port, host);
      const channel = await connecting;
      channel.once('end', () => session.#markGone(new StepError(`SFTP channel to ${where} closed`, {retryable: true})));
      channel.once('close', () => session.#markGone(new StepError(`SFTP channel to ${where} closed`, {retryable: true})));
      if (session.#gone) throw session.#gone;
      return session;
    } catch (error) {
      sock.destroy();
      if (signal?.aborted) throw abortError(signal);
      if (policy.refusal) throw policy.refusal;
      throw connectError(lastError ?? error, options);
    } finally {
      signal?.removeEventListener('abort', onAbort);
    }
  }

  /** Whether the connection and its SFTP channel are still up. */
  get alive(): boolean {
    return this.#gone === undefined;
  }

  #lostError(error: Error): StepError {
    const code = (error as {code?: unknown}).code;
    return new StepError(`connection to ${this.where} lost: ${typeof code === 'string' ? code : error.message.split('\n')[0]}`, {retryable: true, cause: error});
  }

  #markGone(error: StepError): void {
    if (this.#gone) return;
    this.#gone = error;
    for (const listener of this.#goneListeners) listener(error);
    this.#goneListeners.clear();
  }

  /**
   * Run `operation` with a signal that aborts when the caller's signal does or the session goes, and
   * settle as soon as either happens, whether or not the operation ever does. After that the
   * session is closed: requests may still be pending inside ssh2.
   */
  async guard<T>(operation: (signal: AbortSignal) => Promise<T>, signal?: AbortSignal): Promise<T> {
    if (this.#gone) throw this.#gone;
    signal?.throwIfAborted();
    const inner = new AbortController();
    let onGone: ((error: StepError) => void) | undefined;
    let onAbort: (() => void) | undefined;
    const interrupted = new Promise<never>((_resolve, reject) => {
      onGone = (error) => {
        inner.abort(error);
        reject(error);
      };
      onAbort = () => {
        const reason = abortError(signal!);
        inner.abort(reason);
        reject(reason);
      };
      this.#goneListeners.add(onGone);
      signal?.addEventListener('abort', onAbort, {once: true});
    });
    try {
      const running = operation(inner.signal);
      running.catch(() => {}); // it may settle after we stopped waiting
      return await Promise.race([running, interrupted]);
    } catch (error) {
      // An operation that failed because the session went reports the session's reason.
      if (this.#gone && !(error instanceof StepError) && !signal?.aborted) throw this.#gone;
      throw error;
    } finally {
      this.#goneListeners.delete(onGone!);
      signal?.removeEventListener('abort', onAbort!);
      if (inner.signal.aborted) void this.close();
    }
  }

  /** Send a local file to `remoteDir/fileName`, verified on the remote side (see `pushFile`). */
  push(localPath: string, remoteDir: string, fileName: string, expected: ExpectedFile, options?: TransferOptions): Promise<TransferResult> {
    return pushFile(this, localPath, remoteDir, fileName, expected, options);
  }

  /** Fetch a remote file into `localDir/fileName`, verified as written (see `pullFile`). */
  pull(remotePath: string, localDir: string, fileName: string, expected: ExpectedFile, options?: TransferOptions): Promise<TransferResult> {
    return pullFile(this, remotePath, localDir, fileName, expected, options);
  }

  /** The ssh2-sftp-client underneath, for operations inside `guard`. */
  get client(): SftpClient {
    return this.#client;
  }

  /**
   * Run a command on the remote host over this connection; resolves with its exit code and output
   * (each kept to its last 64 KB). Inside `guard` only.
   */
  exec(command: string, signal: AbortSignal): Promise<{code: number | null; stdout: string; stderr: string}> {
    return new Promise((resolve, reject) => {
      this.#client.client.exec(command, (error, channel) => {
        if (error) {
          reject(error);
          return;
        }
        let stdout = '';
        let stderr = '';
        let code: number | null = null;
        const keep = (text: string) => text.slice(-65536);
        signal.addEventListener('abort', () => channel.destroy(), {once: true});
        channel.setEncoding('utf8');
        channel.stderr.setEncoding('utf8');
        channel.on('data', (chunk: string) => (stdout = keep(stdout + chunk)));
        channel.stderr.on('data', (chunk: string) => (stderr = keep(stderr + chunk)));
        channel.on('exit', (exitCode: number | null) => (code = exitCode));
        channel.on('error', reject);
        channel.on('close', () => resolve({code, stdout, stderr}));
      });
    });
  }

  /** End the connection; idempotent. Waits for it to close, at most 2 s, then drops the socket. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      this.#markGone(new StepError(`connection to ${this.where} was closed`, {retryable: true}));
      const ssh = this.#client.client;
      if (this.#socketClosed) return;
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          ssh.destroy();
          resolve();
        }, 2000);
        timer.unref();
        ssh.once('close', () => {
          clearTimeout(timer);
          resolve();
        });
        try {
          ssh.end();
        } catch {
          ssh.destroy();
        }
      });
    })();
    return this.#closing;
  }
}

/** One line for a failed connection attempt, retryable when the network or the server's state is to blame. */
function connectError(error: unknown, options: ResolvedSftpOptions): StepError {
  const where = `${options.host}:${options.port}`;
  const message = error instanceof Error ? error.message : String(error);
  if (/All configured authentication methods failed/.test(message)) {
    return new StepError(`${where} refused the key ${options.keyFile} for user ${options.user} (all configured authentication methods failed)`, {cause: error});
  }
  if (/Host denied/.test(message)) return new StepError(`${where}: host key refused`, {cause: error});
  if (/passphrase|privateKey|Cannot parse|Encrypted private/i.test(message)) {
    return new StepError(`cannot use the private key ${options.keyFile}: ${message.split('\n')[0]} (is passphrase_env set to the variable holding its passphrase?)`, {cause: error});
  }
  if (isNetworkError(error)) {
    const code = (error as {code?: unknown}).code;
    return new StepError(`cannot connect to ${where}: ${typeof code === 'string' ? code : message.split('\n')[0]}`, {retryable: true, cause: error});
  }
  if ((error as {code?: unknown}).code === 'ENOTFOUND') return new StepError(`cannot connect to ${where}: host name not found`, {cause: error});
  return new StepError(`cannot connect to ${where}: ${message.split('\n')[0]}`, {cause: error});
}
