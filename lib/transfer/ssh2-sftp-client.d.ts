// A local declaration of the part of ssh2-sftp-client (and of the ssh2 Client it wraps) that
// lib/transfer uses; neither package ships types, and @types/ssh2 would pull in far more than this.
declare module 'ssh2-sftp-client' {
  import type {EventEmitter} from 'node:events';
  import type {Socket} from 'node:net';
  import type {Duplex, Readable, Writable} from 'node:stream';

  namespace SftpClient {
    interface ConnectOptions {
      host?: string;
      port?: number;
      username: string;
      privateKey: Buffer | string;
      passphrase?: string;
      /** A connected (or connecting) socket to run SSH over. */
      sock?: Socket;
      readyTimeout?: number;
      keepaliveInterval?: number;
      keepaliveCountMax?: number;
      /** Called with the raw host key blob; return a boolean, or call `verify` later and return undefined. */
      hostVerifier?: (key: Buffer, verify: (valid: boolean) => void) => boolean | void;
      algorithms?: {serverHostKey?: string[]};
      debug?: (message: string) => void;
    }

    interface FileStats {
      size: number;
      isFile: boolean;
      isDirectory: boolean;
    }

    interface ExecChannel extends Duplex {
      stderr: Readable;
    }

    interface SshClient extends EventEmitter {
      exec(command: string, callback: (error: Error | undefined, channel: ExecChannel) => void): boolean;
      end(): void;
      destroy(): void;
    }

    /** ssh2's SFTP channel: emits `end` and `close` when the channel goes. */
    type SftpChannel = EventEmitter;

    interface StreamOptions {
      flags?: string;
      mode?: number;
      start?: number;
      /** Last byte to read (inclusive), for a read stream. */
      end?: number;
      highWaterMark?: number;
    }
  }

  class SftpClient {
    constructor(name?: string, callbacks?: {error?: (error: Error) => void; end?: () => void; close?: () => void});
    /** The ssh2 Client underneath. */
    client: SftpClient.SshClient;
    sftp: SftpClient.SftpChannel | undefined;
    connect(options: SftpClient.ConnectOptions): Promise<SftpClient.SftpChannel>;
    stat(path: string): Promise<SftpClient.FileStats>;
    /** `false`, or `-` (file), `d` (directory), `l` (link). */
    exists(path: string): Promise<false | '-' | 'd' | 'l'>;
    mkdir(path: string, recursive?: boolean): Promise<string>;
    rename(from: string, to: string): Promise<string>;
    posixRename(from: string, to: string): Promise<string>;
    delete(path: string, notFoundOK?: boolean): Promise<string>;
    createReadStream(path: string, options?: SftpClient.StreamOptions): Readable;
    createWriteStream(path: string, options?: SftpClient.StreamOptions): Writable;
    end(): Promise<boolean>;
  }

  export = SftpClient;
}
