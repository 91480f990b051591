import {StepError} from '../errors/index.js';
import {resolveSftpOptions, type SftpOptions} from './options.js';
import {SftpSession} from './session.js';

export interface SftpPoolOptions {
  /** SSH connections open at once to one host (`host:port`), in use or idle. @default 2 */
  connectionsPerHost?: number;
  /** An unused connection is closed after this long. @default 30000 */
  idleMs?: number;
}

export interface AcquireOptions {
  /** Gives up waiting for a connection (or connecting); rejects with the signal's reason. */
  signal?: AbortSignal;
}

/** A session lent by the pool: give it back with `release()` (once), whatever happened. */
export interface PooledSession {
  session: SftpSession;
  /** Whether the session served an earlier transfer (false: opened for this one). */
  reused: boolean;
  release(): void;
}

interface Idle {
  session: SftpSession;
  identity: string;
  timer: NodeJS.Timeout;
}

/** One host's connections: how many are open (connecting, lent or idle), the idle ones, and who waits. */
interface HostSlot {
  open: number;
  idle: Idle[];
  waiters: Array<() => void>;
}

function abortReason(signal: AbortSignal): unknown {
  return signal.reason ?? new DOMException('This operation was aborted', 'AbortError');
}

/**
 * SFTP sessions reused across transfers, at most `connectionsPerHost` open to one host at once; a
 * transfer that finds them all busy waits for one. A session is reused only with the same connection
 * settings (user, key, host key policy...); a dead one is dropped when it comes back or is found
 * idle. Idle sessions close after `idleMs`, and all of them on `close()`.
 *
 * ```ts
 * const pool = new SftpPool({connectionsPerHost: 2});
 * const {session, release} = await pool.acquire({host, user, keyFile}, {signal});
 * try { await session.push(...); } finally { release(); }
 * await pool.close();
 * ```
 */
export class SftpPool {
  readonly connectionsPerHost: number;
  readonly idleMs: number;
  readonly #slots = new Map<string, HostSlot>();
  /** Every session the pool has open, lent or idle, so close() reaches them all. */
  readonly #sessions = new Set<SftpSession>();
  #closing: Promise<void> | undefined;

  constructor(options: SftpPoolOptions = {}) {
    const merged = {connectionsPerHost: 2, idleMs: 30_000, ...Object.fromEntries(Object.entries(options).filter(([, v]) => v !== undefined))};
    if (!Number.isInteger(merged.connectionsPerHost) || merged.connectionsPerHost < 1) {
      throw new TypeError(`SftpPool: option connectionsPerHost must be a positive integer, got ${String(merged.connectionsPerHost)}`);
    }
    if (!Number.isFinite(merged.idleMs) || merged.idleMs <= 0) throw new TypeError(`SftpPool: option idleMs must be a positive number of ms, got ${String(merged.idleMs)}`);
    this.connectionsPerHost = merged.connectionsPerHost;
    this.idleMs = merged.idleMs;
  }

  /** Sessions open now to `host:port` (connecting, lent or idle). */
  openTo(host: string, port = 22): number {
    return this.#slots.get(`${host}:${port}`)?.open ?? 0;
  }

  /**
   * An idle session with these settings, else a new one if the host has room, else the first to
   * come back. Connection failures are SftpSession.connect's StepErrors.
   */
  async acquire(sftpOptions: SftpOptions, {signal}: AcquireOptions = {}): Promise<PooledSession> {
    const options = resolveSftpOptions(sftpOptions);
    const where = `${options.host}:${options.port}`;
    const {log: _log, ...settings} = options;
    const identity = JSON.stringify(settings);
    const slot = this.#slot(where);
    let woken = false;
    for (;;) {
      if (this.#closing) throw this.#closedError(where);
      if (signal?.aborted) {
        // A wake-up this caller no longer uses goes to the next in line.
        if (woken) this.#wakeOne(slot);
        throw abortReason(signal);
      }
      this.#dropDead(slot);
      const index = slot.idle.findIndex((idle) => idle.identity === identity);
      if (index >= 0) {
        const [idle] = slot.idle.splice(index, 1);
        clearTimeout(idle!.timer);
        return this.#lend(slot, idle!.session, identity, true);
      }
      if (slot.open < this.connectionsPerHost) {
        slot.open++;
        let session: SftpSession;
        try {
          session = await SftpSession.connect(sftpOptions, {signal});
        } catch (error) {
          this.#closed(slot);
          throw error;
        }
        if (this.#closing) {
          await session.close();
          this.#closed(slot);
          throw this.#closedError(where);
        }
        this.#sessions.add(session);
        return this.#lend(slot, session, identity, false);
      }
      // Full with idle sessions of other settings: make room.
      const other = slot.idle.shift();
      if (other) {
        this.#retire(slot, other);
        continue;
      }
      await this.#waitForRoom(slot, signal);
      woken = true;
    }
  }

  #closedError(where: string): StepError {
    return new StepError(`connections to ${where} are closed (the listener is stopping)`, {retryable: true});
  }

  /** Close every session, lent or idle, and refuse new work; idempotent. Lent sessions fail their transfers retryably. */
  close(): Promise<void> {
    this.#closing ??= (async () => {
      for (const slot of this.#slots.values()) {
        for (const idle of slot.idle) clearTimeout(idle.timer);
        slot.idle = [];
        for (const wake of slot.waiters.splice(0)) wake();
      }
      await Promise.all([...this.#sessions].map((session) => session.close()));
      this.#sessions.clear();
    })();
    return this.#closing;
  }

  #slot(where: string): HostSlot {
    let slot = this.#slots.get(where);
    if (!slot) {
      slot = {open: 0, idle: [], waiters: []};
      this.#slots.set(where, slot);
    }
    return slot;
  }

  #lend(slot: HostSlot, session: SftpSession, identity: string, reused: boolean): PooledSession {
    let released = false;
    return {
      session, reused,
      release: () => {
        if (released) return;
        released = true;
        if (this.#closing || !session.alive) {
          this.#sessions.delete(session);
          void session.close();
          this.#closed(slot);
          return;
        }
        const idle: Idle = {session, identity, timer: setTimeout(() => this.#expire(slot, idle), this.idleMs)};
        // An idle connection must not keep the process alive.
        idle.timer.unref();
        slot.idle.push(idle);
        this.#wakeOne(slot);
      },
    };
  }

  #expire(slot: HostSlot, idle: Idle): void {
    const index = slot.idle.indexOf(idle);
    if (index < 0) return;
    slot.idle.splice(index, 1);
    this.#retire(slot, idle);
  }

  #retire(slot: HostSlot, idle: Idle): void {
    clearTimeout(idle.timer);
    this.#sessions.delete(idle.session);
    void idle.session.close();
    this.#closed(slot);
  }

  /** Idle sessions whose connection went (server restarted, keepalive unanswered) are dropped. */
  #dropDead(slot: HostSlot): void {
    for (const idle of slot.idle.filter((i) => !i.session.alive)) {
      slot.idle.splice(slot.idle.indexOf(idle), 1);
      this.#retire(slot, idle);
    }
  }

  /** A session of this host closed (or never opened): there is room for one more. */
  #closed(slot: HostSlot): void {
    slot.open--;
    this.#wakeOne(slot);
  }

  #wakeOne(slot: HostSlot): void {
    slot.waiters.shift()?.();
  }

  #waitForRoom(slot: HostSlot, signal: AbortSignal | undefined): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const onAbort = () => {
        const index = slot.waiters.indexOf(wake);
        if (index >= 0) slot.waiters.splice(index, 1);
        reject(abortReason(signal!));
      };
      const wake = () => {
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      slot.waiters.push(wake);
      signal?.addEventListener('abort', onAbort, {once: true});
    });
  }
}
