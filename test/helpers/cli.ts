import {spawn, type ChildProcess} from 'node:child_process';
import {fileURLToPath} from 'node:url';
import {main} from '../../lib/cli/index.js';

/** The compiled `edw` executable (npm test builds it first). */
export const BIN = fileURLToPath(new URL('../../dist/lib/cli/bin.js', import.meta.url));

export interface CliResult {
  code: number;
  out: string[];
  err: string[];
}

/** Run edw in this process, capturing its output. */
export async function edw(...argv: string[]): Promise<CliResult> {
  const out: string[] = [];
  const err: string[] = [];
  const code = await main(argv, {out: (l) => out.push(l), err: (l) => err.push(l), tty: false});
  return {code, out, err};
}

/** Run the compiled edw in a child process to its end, capturing its output (lines) and exit code. */
export async function edwChild(...argv: string[]): Promise<CliResult> {
  const child = spawn(process.execPath, [BIN, ...argv], {stdio: ['ignore', 'pipe', 'pipe']});
  let out = '';
  let err = '';
  child.stdout.setEncoding('utf8').on('data', (s: string) => (out += s));
  child.stderr.setEncoding('utf8').on('data', (s: string) => (err += s));
  const code = await new Promise<number>((resolve) => child.on('close', (c) => resolve(c ?? 1)));
  const lines = (text: string): string[] => (text === '' ? [] : text.replace(/\n$/, '').split('\n'));
  return {code, out: lines(out), err: lines(err)};
}

/** A running `edw` child process whose stderr lines can be waited on. */
export interface EdwProcess {
  child: ChildProcess;
  stderr: string[];
  stdout: string[];
  /** Resolve when a stderr line matches (lines already seen count). */
  waitFor(pattern: RegExp): Promise<string>;
  exit: Promise<{code: number | null; signal: NodeJS.Signals | null}>;
}

/** Start the compiled edw in a child process (the process is the listener itself, no wrapper). */
export function spawnEdw(args: string[], env: NodeJS.ProcessEnv = {}): EdwProcess {
  const child = spawn(process.execPath, [BIN, ...args], {env: {...process.env, ...env}, stdio: ['ignore', 'pipe', 'pipe']});
  const stderr: string[] = [];
  const stdout: string[] = [];
  const waiters: Array<{pattern: RegExp; resolve: (line: string) => void}> = [];
  const onLine = (line: string): void => {
    stderr.push(line);
    for (const w of [...waiters]) {
      if (w.pattern.test(line)) {
        waiters.splice(waiters.indexOf(w), 1);
        w.resolve(line);
      }
    }
  };
  let buffered = '';
  child.stderr!.setEncoding('utf8').on('data', (chunk: string) => {
    buffered += chunk;
    const lines = buffered.split('\n');
    buffered = lines.pop()!;
    lines.forEach(onLine);
  });
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => stdout.push(...chunk.split('\n').filter(Boolean)));
  // 'close', not 'exit': a process can exit before its last output has been read from the pipes, and
  // a test that reads stderr once the process is gone must see all of it.
  const exit = new Promise<{code: number | null; signal: NodeJS.Signals | null}>((resolve) => child.on('close', (code, signal) => {
    if (buffered) onLine(buffered);
    buffered = '';
    resolve({code, signal});
  }));
  return {
    child, stderr, stdout, exit,
    waitFor(pattern) {
      const seen = stderr.find((l) => pattern.test(l));
      if (seen) return Promise.resolve(seen);
      return new Promise((resolve, reject) => {
        waiters.push({pattern, resolve});
        void exit.then(({code, signal}) => reject(new Error(`edw exited (${code ?? signal}) before printing ${pattern}; stderr:\n${stderr.slice(-10).join('\n')}`)));
      });
    },
  };
}
