import {execFile} from 'node:child_process';
import {readFileSync} from 'node:fs';
import {stat} from 'node:fs/promises';
import {delimiter, dirname, join} from 'node:path';
import {promisify} from 'node:util';
import {fileDigest} from '../lib/files/index.js';
import type {CodeIdentity} from '../lib/runtime/index.js';

const run = promisify(execFile);

/** The commit of the git work tree `dir` is in, and whether it has changes; undefined when it is in none (or git is missing). */
async function gitState(dir: string): Promise<CodeIdentity['git']> {
  try {
    const {stdout: commit} = await run('git', ['rev-parse', 'HEAD'], {cwd: dir, timeout: 10_000});
    const {stdout: changes} = await run('git', ['status', '--porcelain'], {cwd: dir, timeout: 10_000});
    return {commit: commit.trim(), dirty: changes.trim() !== ''};
  } catch {
    return undefined;
  }
}

/** Where a bare command name (`python3`) is found on PATH, as the shell would find it. */
async function onPath(name: string): Promise<string | undefined> {
  for (const dir of (process.env.PATH ?? '').split(delimiter).filter(Boolean)) {
    const path = join(dir, name);
    if ((await stat(path).catch(() => null))?.isFile()) return path;
  }
  return undefined;
}

/**
 * The identity of the code in `file` (an executable or a module), asked before each attempt: the
 * file's md5 and its git work tree's commit and dirtiness, computed again when the file's size or
 * modification time changed or a minute passed (another file of the tree may have changed).
 */
export function fileIdentity(file: string, options: {lookup?: boolean} = {}): () => Promise<CodeIdentity | undefined> {
  let known: {stamp: string; at: number; identity: CodeIdentity} | undefined;
  return async () => {
    const path = options.lookup ? await onPath(file) : file;
    if (!path) return undefined;
    const info = await stat(path).catch(() => null);
    if (!info) return undefined;
    const stamp = `${path}\u0000${info.size}\u0000${info.mtimeMs}`;
    if (known && known.stamp === stamp && Date.now() - known.at < 60_000) return known.identity;
    const digest = await fileDigest(path);
    const git = await gitState(dirname(path));
    const identity: CodeIdentity = {file: path, ...(digest ? {md5: digest.md5} : {}), ...(git ? {git} : {})};
    known = {stamp, at: Date.now(), identity};
    return identity;
  };
}

/** edw's own version, from its package.json (the same from sources and from `dist/`). */
function release(): string {
  const file = new URL(import.meta.url.includes('/dist/') ? '../../package.json' : '../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as {version: string}).version;
}

/** The identity of a step that ships with edw: the edw release. */
export function builtinIdentity(): () => Promise<CodeIdentity> {
  const identity = {builtin: `edw ${release()}`};
  return async () => identity;
}
