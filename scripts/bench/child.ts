/** The bench's child processes (a listener, BullMQ's workers): spawned with a spec, answering one JSON line. */
import {spawn} from 'node:child_process';
import {extname} from 'node:path';
import {fileURLToPath} from 'node:url';

/** A module next to this one: `name.js` when compiled, `name.ts` when run from the sources with tsx. */
export function siblingPath(name: string): string {
  const here = fileURLToPath(import.meta.url);
  return fileURLToPath(new URL(`./${name}${extname(here)}`, import.meta.url));
}

/**
 * Run the bench module `name` in a child process with `spec` as JSON in the environment variable `envName`
 * (in the environment, not on a command line that `ps` shows: a spec may carry credentials), and return
 * the last line it printed, parsed. Throws when it exits non-zero or prints no JSON.
 */
export async function runJsonChild<T>(name: string, envName: string, spec: unknown, what: string): Promise<T> {
  // EDW_BENCH_CHILD_ARGS: extra node options for the children only (e.g. `--cpu-prof --cpu-prof-dir=DIR`,
  // which NODE_OPTIONS does not take), space-separated.
  const extra = (process.env.EDW_BENCH_CHILD_ARGS ?? '').split(' ').filter(Boolean);
  const child = spawn(process.execPath, [...process.execArgv, ...extra, '--expose-gc', siblingPath(name)], {
    env: {...process.env, [envName]: JSON.stringify(spec)},
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  let out = '';
  child.stdout!.setEncoding('utf8').on('data', (chunk: string) => {
    out += chunk;
  });
  const code = await new Promise<number | null>((resolve, reject) => {
    child.once('error', reject);
    child.once('exit', (exitCode) => resolve(exitCode));
  });
  const line = out.trim().split('\n').pop() ?? '';
  if (code !== 0 || !line.startsWith('{')) throw new Error(`${what} exited with code ${code}${line ? `: ${line.slice(0, 300)}` : ''}`);
  return JSON.parse(line) as T;
}
