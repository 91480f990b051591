/**
 * A real OpenSSH sshd as a test and script fixture (Debian's `openssh-server`), on a free loopback port, with a
 * throwaway host key and user key in a temp folder it owns. It never touches the system's sshd: its
 * own config, PID file and authorized_keys; started under `setpriv --pdeathsig TERM` so a test run
 * that dies cannot leak it.
 *
 * ```ts
 * const sshd = await startSshd();
 * test.after.always(() => sshd.stop());
 * // connect to sshd.host:sshd.port as sshd.user with sshd.userKeyFile, checking sshd.knownHostsFile
 * ```
 *
 * It serves this machine's disk as the test's own user, so a test can look at (and tamper with) what
 * arrives over SFTP through the local filesystem.
 */
import {execFile, spawn, type ChildProcess} from 'node:child_process';
import {EventEmitter, on} from 'node:events';
import {createHash} from 'node:crypto';
import {existsSync} from 'node:fs';
import {appendFile, mkdtemp, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {tmpdir, userInfo} from 'node:os';
import {join} from 'node:path';
import {promisify} from 'node:util';
import {findFreePort} from './couch-server.js';

const SSHD = '/usr/sbin/sshd';
const SSH_KEYGEN = '/usr/bin/ssh-keygen';
const SETPRIV = '/usr/bin/setpriv';
const STDERR_TAIL_CHARS = 4000;
const run = promisify(execFile);

export interface SshdOptions {
  /** How long sshd may take to say "Server listening on". @default 10000 */
  startTimeoutMs?: number;
  /** How long after SIGTERM before SIGKILL. @default 5000 */
  stopTimeoutMs?: number;
  /** Extra sshd_config lines (for example `ForceCommand internal-sftp`). @default '' */
  extraConfig?: string;
}

export interface Sshd {
  readonly host: '127.0.0.1';
  readonly port: number;
  /** The account to log in as: the user running the tests. */
  readonly user: string;
  /** The fixture's temp folder (keys, config, known_hosts); removed by `stop()`. */
  readonly folder: string;
  /** Private key (ed25519, no passphrase) that the server accepts. */
  readonly userKeyFile: string;
  /** A known_hosts file holding this server's host key as `[127.0.0.1]:PORT ssh-ed25519 ...`. */
  readonly knownHostsFile: string;
  /** The host key's public line (`ssh-ed25519 AAAA...`) and its fingerprint as OpenSSH prints it (`SHA256:...`). */
  readonly hostKey: {line: string; fingerprint: string};
  /** PID of the listening sshd, undefined while it is stopped. */
  readonly pid: number | undefined;
  /** Let another public key (an `authorized_keys` line) log in too. */
  authorize(publicKeyLine: string): Promise<void>;
  /** PIDs of the per-connection processes (`sshd: USER@notty`). */
  sessionPids(): Promise<number[]>;
  /** PIDs of the SFTP servers those sessions run (`sshd: USER@internal-sftp`). */
  sftpServerPids(): Promise<number[]>;
  /** Kill every per-connection process (clients see ECONNRESET/EPIPE); returns how many. @default signal SIGKILL */
  killSessions(signal?: NodeJS.Signals): Promise<number>;
  /** Kill only the SFTP server processes: the SSH connection stays, its SFTP channel closes. @default signal SIGKILL */
  killSftpServers(signal?: NodeJS.Signals): Promise<number>;
  /** Stop the listener and its sessions, then start it again on the same port with the same host key. */
  restart(): Promise<void>;
  /** Stop the listener and its sessions, keeping port, keys and folder: the host is down until `up()`. */
  down(): Promise<void>;
  /** Start the listener again after `down()`, on the same port with the same host key. */
  up(): Promise<void>;
  /**
   * How many lines sshd has logged so far (since the fixture started, across restarts) that match
   * `pattern`; for example `/Accepted publickey for/` counts logins, `/Disconnected from user/` their ends.
   */
  logCount(pattern: RegExp): number;
  /** Resolve once `logCount(pattern)` reaches `count`; rejects when `signal` aborts first. */
  waitForLog(pattern: RegExp, count: number, signal?: AbortSignal): Promise<void>;
  /** Stop the listener and its sessions and remove the folder. Idempotent. */
  stop(): Promise<void>;
  /** The last lines sshd wrote to stderr. */
  stderrTail(): string;
}

/** One line naming what to install when OpenSSH's server is missing. */
export function sshdMissing(): string | undefined {
  if (!existsSync(SSHD)) return `${SSHD} not found: install Debian's openssh-server package (apt-get install -y openssh-server)`;
  if (!existsSync(SSH_KEYGEN)) return `${SSH_KEYGEN} not found: install Debian's openssh-client package (apt-get install -y openssh-client)`;
  return undefined;
}

/** Make an ed25519 key pair at `path` (and `path.pub`); returns the public line. */
export async function generateKey(path: string, options: {passphrase?: string; comment?: string} = {}): Promise<string> {
  await run(SSH_KEYGEN, ['-q', '-t', 'ed25519', '-N', options.passphrase ?? '', '-C', options.comment ?? 'edw-test', '-f', path]);
  return (await readFile(`${path}.pub`, 'utf8')).trim();
}

/** SHA256 fingerprint of a public key line, as OpenSSH prints it. */
export function fingerprintOf(publicKeyLine: string): string {
  const blob = Buffer.from(publicKeyLine.split(/\s+/)[1] ?? '', 'base64');
  return `SHA256:${createHash('sha256').update(blob).digest('base64').replace(/=+$/, '')}`;
}

let perSourcePenalties: Promise<boolean> | undefined;

/** Whether this sshd knows PerSourcePenalties (OpenSSH 9.8 and later); older ones refuse to start with it. */
function supportsPerSourcePenalties(): Promise<boolean> {
  perSourcePenalties ??= (async () => {
    // `sshd -V` prints its version on stderr ("OpenSSH_9.2p1 ...") and exits 0 from 9.x on, 1 before.
    const output = await run(SSHD, ['-V']).then((r) => `${r.stdout}${r.stderr}`, (error: {stdout?: string; stderr?: string}) => `${error.stdout ?? ''}${error.stderr ?? ''}`);
    const match = /OpenSSH_(\d+)\.(\d+)/.exec(output);
    return !!match && (Number(match[1]) > 9 || (Number(match[1]) === 9 && Number(match[2]) >= 8));
  })();
  return perSourcePenalties;
}

/** Parent PID of every process, read from /proc (Linux). */
async function processTable(): Promise<Array<{pid: number; ppid: number; args: string}>> {
  const rows: Array<{pid: number; ppid: number; args: string}> = [];
  for (const entry of await readdir('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = await readFile(`/proc/${entry}/stat`, 'utf8');
      // The command name is in parentheses and may hold spaces: fields after the last ')'.
      const after = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      const args = (await readFile(`/proc/${entry}/cmdline`, 'utf8')).replace(/\0+$/, '').replace(/\0/g, ' ');
      rows.push({pid: Number(entry), ppid: Number(after[1]), args});
    } catch {
      // the process ended while we looked
    }
  }
  return rows;
}

async function descendants(root: number): Promise<Array<{pid: number; args: string}>> {
  const table = await processTable();
  const found: Array<{pid: number; args: string}> = [];
  const parents = new Set([root]);
  for (let grew = true; grew;) {
    grew = false;
    for (const row of table) {
      if (parents.has(row.ppid) && !parents.has(row.pid)) {
        parents.add(row.pid);
        found.push(row);
        grew = true;
      }
    }
  }
  return found;
}

class SshdProcess implements Sshd {
  readonly host = '127.0.0.1' as const;
  readonly user = userInfo().username;
  readonly folder: string;
  readonly userKeyFile: string;
  readonly knownHostsFile: string;
  hostKey = {line: '', fingerprint: ''};
  port: number;
  readonly #options: Required<SshdOptions>;
  #child: ChildProcess | undefined;
  #exited: Promise<void> = Promise.resolve();
  #stderr = '';
  /** Every complete line sshd logged, for logCount (a test's sshd logs a few lines per connection). */
  readonly #lines: string[] = [];
  #partialLine = '';
  readonly #logged = new EventEmitter();
  #stopped: Promise<void> | undefined;

  constructor(folder: string, port: number, options: Required<SshdOptions>) {
    this.folder = folder;
    this.port = port;
    this.#options = options;
    this.userKeyFile = join(folder, 'user_key');
    this.knownHostsFile = join(folder, 'known_hosts');
  }

  get pid(): number | undefined {
    return this.#child?.exitCode === null && this.#child.signalCode === null ? this.#child.pid : undefined;
  }

  async prepare(): Promise<void> {
    const hostLine = await generateKey(join(this.folder, 'host_key'), {comment: 'edw-test-host'});
    this.hostKey = {line: hostLine.split(/\s+/).slice(0, 2).join(' '), fingerprint: fingerprintOf(hostLine)};
    await writeFile(join(this.folder, 'authorized_keys'), `${await generateKey(this.userKeyFile, {comment: 'edw-test-user'})}\n`);
  }

  async #writeConfig(): Promise<string> {
    const path = join(this.folder, 'sshd_config');
    await writeFile(path, [
      'ListenAddress 127.0.0.1',
      `Port ${this.port}`,
      `HostKey ${join(this.folder, 'host_key')}`,
      `PidFile ${join(this.folder, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(this.folder, 'authorized_keys')}`,
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'StrictModes no',
      'UsePAM no',
      'Subsystem sftp internal-sftp',
      // Parallel tests open many connections at once; the default (10:30:100) drops some of them.
      'MaxStartups 200',
      'MaxSessions 200',
      // OpenSSH 9.8+ shuts out a source that failed to authenticate (the wrong-key tests): off.
      ...(await supportsPerSourcePenalties() ? ['PerSourcePenalties no'] : []),
      this.#options.extraConfig,
      '',
    ].join('\n'));
    await writeFile(this.knownHostsFile, `[${this.host}]:${this.port} ${this.hostKey.line}\n`);
    return path;
  }

  /** Start on a new free port, trying again when another process took the port in between. */
  async startOnFreePort(): Promise<void> {
    for (let attempt = 1; ; attempt++) {
      try {
        await this.start();
        return;
      } catch (error) {
        if (!/Address already in use/.test(this.#stderr) || attempt >= 3) throw error;
        this.port = await findFreePort();
      }
    }
  }

  async start(): Promise<void> {
    // sshd refuses to start without its privilege-separation folder (Debian's service creates it).
    if (process.getuid?.() === 0) await run('install', ['-d', '-m', '0755', '/run/sshd']);
    const config = await this.#writeConfig();
    const sshdArgs = ['-D', '-e', '-f', config];
    const [command, args] = existsSync(SETPRIV) ? [SETPRIV, ['--pdeathsig', 'TERM', '--', SSHD, ...sshdArgs]] : [SSHD, sshdArgs];
    this.#stderr = '';
    const child = spawn(command, args, {cwd: this.folder, stdio: ['ignore', 'ignore', 'pipe']});
    this.#child = child;
    this.#exited = new Promise<void>((resolve) => {
      child.once('exit', () => resolve());
      child.once('error', (error) => {
        this.#stderr += `\n${String(error)}`;
        resolve();
      });
    });
    child.stderr!.setEncoding('utf8');
    let settled = false;
    let timer: NodeJS.Timeout | undefined;
    try {
      await new Promise<void>((resolve, reject) => {
        const fail = (what: string) => {
          if (settled) return;
          settled = true;
          reject(new Error(`sshd on ${this.host}:${this.port} ${what}; stderr:\n${this.stderrTail() || '(empty)'}`));
        };
        timer = setTimeout(() => fail(`did not say "Server listening on" within ${this.#options.startTimeoutMs} ms`), this.#options.startTimeoutMs);
        child.stderr!.on('data', (chunk: string) => {
          this.#stderr = (this.#stderr + chunk).slice(-STDERR_TAIL_CHARS);
          this.#addLines(chunk);
          if (!settled && /Server listening on/.test(this.#stderr)) {
            settled = true;
            resolve();
          }
        });
        void this.#exited.then(() => fail(`exited (code ${child.exitCode}, signal ${child.signalCode}) before listening`));
      });
    } catch (error) {
      await this.#kill();
      throw error;
    } finally {
      clearTimeout(timer);
    }
  }

  #addLines(chunk: string): void {
    const lines = (this.#partialLine + chunk).split('\n');
    this.#partialLine = lines.pop()!;
    if (lines.length === 0) return;
    this.#lines.push(...lines);
    this.#logged.emit('lines');
  }

  logCount(pattern: RegExp): number {
    return this.#lines.filter((line) => pattern.test(line)).length;
  }

  async waitForLog(pattern: RegExp, count: number, signal?: AbortSignal): Promise<void> {
    if (this.logCount(pattern) >= count) return;
    // on() ends with the signal's AbortError; the count is checked again after each batch of lines.
    for await (const _ of on(this.#logged, 'lines', {signal})) {
      if (this.logCount(pattern) >= count) return;
    }
  }

  async authorize(publicKeyLine: string): Promise<void> {
    // sshd reads authorized_keys at each login: no restart needed.
    await appendFile(join(this.folder, 'authorized_keys'), `${publicKeyLine.trim()}\n`);
  }

  async #children(pattern: RegExp): Promise<number[]> {
    const pid = this.pid;
    if (pid === undefined) return [];
    return (await descendants(pid)).filter((p) => pattern.test(p.args)).map((p) => p.pid);
  }

  sessionPids(): Promise<number[]> {
    return this.#children(/^sshd: \S+@notty/);
  }

  sftpServerPids(): Promise<number[]> {
    return this.#children(/^sshd: \S+@internal-sftp/);
  }

  async #killAll(pids: number[], signal: NodeJS.Signals): Promise<number> {
    let killed = 0;
    for (const pid of pids) {
      try {
        process.kill(pid, signal);
        killed += 1;
      } catch {
        // already gone
      }
    }
    return killed;
  }

  async killSessions(signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    return this.#killAll(await this.sessionPids(), signal);
  }

  async killSftpServers(signal: NodeJS.Signals = 'SIGKILL'): Promise<number> {
    return this.#killAll(await this.sftpServerPids(), signal);
  }

  /** Kill the listener and every process it started; resolves once the listener has exited. */
  async #kill(): Promise<void> {
    const child = this.#child;
    if (!child) return;
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) {
      // Collected first: once the listener is gone its sessions are re-parented and cannot be found.
      const sessions = (await descendants(child.pid)).map((p) => p.pid);
      child.kill('SIGTERM');
      await this.#killAll(sessions, 'SIGKILL');
      const timer = AbortSignal.timeout(this.#options.stopTimeoutMs);
      const exitedInTime = await Promise.race([
        this.#exited.then(() => true),
        new Promise<boolean>((resolve) => timer.addEventListener('abort', () => resolve(false), {once: true})),
      ]);
      if (!exitedInTime) child.kill('SIGKILL');
    }
    await this.#exited;
    this.#child = undefined;
  }

  async restart(): Promise<void> {
    await this.down();
    await this.up();
  }

  async down(): Promise<void> {
    if (this.#stopped) throw new Error(`sshd on ${this.host}:${this.port} was stopped; start a new one`);
    await this.#kill();
  }

  async up(): Promise<void> {
    if (this.#stopped) throw new Error(`sshd on ${this.host}:${this.port} was stopped; start a new one`);
    if (this.pid !== undefined) return;
    await this.start();
  }

  stop(): Promise<void> {
    this.#stopped ??= (async () => {
      try {
        await this.#kill();
      } finally {
        await rm(this.folder, {recursive: true, force: true});
      }
    })();
    return this.#stopped;
  }

  stderrTail(): string {
    return this.#stderr.split('\n').slice(-20).join('\n').trim();
  }
}

/** Start an sshd for a test file; call `stop()` when done (`test.after.always`). */
export async function startSshd(options: SshdOptions = {}): Promise<Sshd> {
  const missing = sshdMissing();
  if (missing) throw new Error(missing);
  const settings: Required<SshdOptions> = {startTimeoutMs: 10_000, stopTimeoutMs: 5000, extraConfig: '', ...options};
  for (const name of ['startTimeoutMs', 'stopTimeoutMs'] as const) {
    const value = settings[name];
    if (typeof value !== 'number' || !Number.isFinite(value) || value <= 0) throw new TypeError(`startSshd: option ${name} must be a positive number of ms, got ${String(value)}`);
  }
  const folder = await mkdtemp(join(tmpdir(), 'edw-sshd-'));
  const server = new SshdProcess(folder, await findFreePort(), settings);
  try {
    await server.prepare();
    await server.startOnFreePort();
  } catch (error) {
    await server.stop().catch(() => {});
    throw error;
  }
  return server;
}
