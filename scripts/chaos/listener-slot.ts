/** A listener process slot of the chaos run: started, killed with a signal, started again. */
import {spawn, type ChildProcess} from 'node:child_process';
import {closeSync, openSync, readFileSync} from 'node:fs';

/** One `edw listen STEP` slot: a process that the run kills and starts again. */
export class ListenerSlot {
  child: ChildProcess | undefined;
  #exit: Promise<void> = Promise.resolve();
  #killing = false;
  /** Set by `stop()`: no more starts, whatever timer is pending. */
  #closed = false;
  unexpectedExits = 0;

  constructor(readonly step: string, readonly index: number, readonly bin: string, readonly configPath: string,
    readonly logPath: string, readonly env: NodeJS.ProcessEnv, readonly note: (line: string) => void) {}

  start(): void {
    if (this.#closed || this.child) return;
    const log = openSync(this.logPath, 'a');
    const child = spawn(process.execPath, [this.bin, 'listen', this.step, '--config', this.configPath],
      {env: {...process.env, ...this.env}, stdio: ['ignore', log, log]});
    closeSync(log);
    this.child = child;
    this.#exit = new Promise((resolveExit) => child.once('exit', (code, signal) => {
      if (!this.#killing && this.child === child) {
        // `edw listen` waits out an unreachable database: an exit is a failure the run counts (and
        // starts the process again, as a service manager would).
        this.unexpectedExits++;
        const last = readFileSync(this.logPath, 'utf8').trim().split('\n').pop() ?? '';
        this.note(`chaos: listener ${this.step}#${this.index} (pid ${child.pid}) exited by itself (${code ?? signal}): ${last.slice(0, 300)}; starting it again`);
        this.child = undefined;
        setTimeout(() => this.child === undefined && !this.#killing && this.start(), 500);
      }
      resolveExit();
    }));
  }

  async kill(signal: NodeJS.Signals, options: {final?: boolean} = {}): Promise<void> {
    if (options.final) this.#closed = true;
    const child = this.child;
    if (!child || child.exitCode !== null || child.signalCode !== null) return;
    this.#killing = true;
    try {
      child.kill(signal);
      await this.#exit;
    } finally {
      this.#killing = false;
      this.child = undefined;
    }
  }

  /** SIGTERM (a graceful stop), SIGKILL after `timeoutMs`. */
  async stop(timeoutMs: number): Promise<void> {
    this.#closed = true;
    const child = this.child;
    if (!child) return;
    this.#killing = true;
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.kill('SIGTERM');
    await this.#exit;
    clearTimeout(timer);
    this.child = undefined;
  }
}
