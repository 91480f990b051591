import {constants} from 'node:fs';
import {access, readFile, stat, statfs} from 'node:fs/promises';
import {userInfo} from 'node:os';
import {dirname, join} from 'node:path';
import {ConfigError, EdwError, NotFoundError, UnavailableError} from '../errors/index.js';
import {SHARE_FILE} from './share.js';

/**
 * Below this many free bytes the file system of an embedded database counts as full: LevelDB writes
 * its log and tables in pieces of a few MiB (4 MiB write buffer, 2 MiB tables), so a write fails well
 * before the last byte is taken.
 */
const FULL_BELOW_BYTES = 16 * 1024 * 1024;

/** The file LevelDB locks (fcntl, for writing) while a process has the database open. */
const LOCK_FILE = 'LOCK';

/** The holder of a file's fcntl lock as /proc/locks lists it (Linux), or null when none or unknown. */
async function lockHolder(file: string): Promise<number | null> {
  let table: string;
  let info: {dev: bigint; ino: bigint};
  try {
    [table, info] = await Promise.all([readFile('/proc/locks', 'utf8'), stat(file, {bigint: true})]);
  } catch {
    return null;
  }
  // glibc's major()/minor() of st_dev; /proc/locks prints them in hex, the inode in decimal.
  const major = ((info.dev >> 8n) & 0xfffn) | ((info.dev >> 32n) & ~0xfffn);
  const minor = (info.dev & 0xffn) | ((info.dev >> 12n) & ~0xffn);
  for (const line of table.split('\n')) {
    // "1: POSIX  ADVISORY  WRITE 9872 fe:00:2146738 0 EOF" (an OFD lock has pid -1: no owner to name)
    const match = /^\d+:\s+POSIX\s+\S+\s+\S+\s+(\d+)\s+([0-9a-f]+):([0-9a-f]+):(\d+)\s/.exec(line);
    if (!match) continue;
    if (BigInt(`0x${match[2]}`) === major && BigInt(`0x${match[3]}`) === minor && BigInt(match[4]!) === info.ino) return Number(match[1]);
  }
  return null;
}

/** A process's short name (`/proc/PID/comm`), when it can be read. */
async function processName(pid: number): Promise<string | null> {
  try {
    return (await readFile(`/proc/${pid}/comm`, 'utf8')).trim() || null;
  } catch {
    return null;
  }
}

/** The pid an `edw-share.json` left in the folder names, if that process is alive. */
async function sharePid(folder: string): Promise<number | null> {
  try {
    const {pid} = JSON.parse(await readFile(join(folder, SHARE_FILE), 'utf8')) as {pid?: unknown};
    if (typeof pid !== 'number' || pid === process.pid) return null;
    process.kill(pid, 0);
    return pid;
  } catch {
    return null;
  }
}

/** The nearest ancestor of `path` (itself included) that exists, and whether it is a folder. */
async function nearestExisting(path: string): Promise<{path: string; isDirectory: boolean}> {
  for (let at = path; ; at = dirname(at)) {
    const info = await stat(at).catch(() => null);
    if (info) return {path: at, isDirectory: info.isDirectory()};
    if (dirname(at) === at) return {path: at, isDirectory: true};
  }
}

function errnoCode(error: unknown): string | undefined {
  const code = (error as {code?: unknown} | null)?.code;
  return typeof code === 'string' ? code : undefined;
}

function megabytes(bytes: number): string {
  return `${(bytes / 1024 / 1024).toFixed(1)} MiB`;
}

/**
 * What went wrong with the embedded database in `folder`, as one EdwError whose message says what and
 * where. Decided from the error's errno code when it has one (mkdir and stat errors do; LevelDB's do
 * not), otherwise from checks of the folder: a path through a file, a missing folder, no permission
 * to write, a read-only file system, a lock held by another process (its pid from /proc/locks on
 * Linux, or from the share file), a full disk. Only when none of them holds is the store's own reason
 * given, never guessed at from its text.
 * @param what the operation, as the message's start: `open`, `write documents`, ...
 */
export async function storageError(folder: string, error: unknown, what: string): Promise<EdwError> {
  const reason = (error as {reason?: string; message?: string} | null)?.reason ?? (error as Error | null)?.message ?? String(error);
  const cannot = what === 'open' || what === 'create' ? `cannot ${what} the embedded database ${folder}` : `cannot ${what} in the embedded database ${folder}`;
  const fromCode = async (code: string | undefined, path: string): Promise<EdwError | null> => {
    switch (code) {
      case 'ENOTDIR':
      case 'EEXIST': {
        const blocker = await nearestExisting(path);
        return new ConfigError(`${cannot}: ${blocker.path} is a file, not a folder`, {cause: error});
      }
      case 'ENOENT':
        return new NotFoundError(`no database at ${folder} (run 'edw init' to create it)`, {cause: error});
      case 'EACCES':
      case 'EPERM':
        return new ConfigError(`${cannot}: permission denied on ${path} for ${userName()}`, {cause: error});
      case 'EROFS':
        return new ConfigError(`${cannot}: ${path} is on a read-only file system`, {cause: error});
      case 'ENOSPC':
      case 'EDQUOT':
        return new UnavailableError(`${cannot}: its disk is full`, {cause: error});
      default:
        return null;
    }
  };
  // ENOENT is not taken at its word: Node's recursive mkdir answers it for a read-only file system too.
  const code = errnoCode(error);
  if (code && code !== 'ENOENT') {
    const known = await fromCode(code, (error as {path?: string}).path ?? folder);
    if (known) return known;
  }

  // LevelDB's errors carry no code: look at the folder itself.
  let info;
  try {
    info = await stat(folder);
  } catch (statError) {
    const statCode = errnoCode(statError);
    if (statCode !== 'ENOENT') return (await fromCode(statCode, folder)) ?? new EdwError(`${cannot}: ${reason.split('\n')[0]}`, {cause: error});
    const nearest = await nearestExisting(folder);
    if (!nearest.isDirectory) return (await fromCode('ENOTDIR', folder))!;
    if (what === 'create') {
      const denied = await access(nearest.path, constants.W_OK).then(() => null, (accessError: unknown) => fromCode(errnoCode(accessError), nearest.path));
      if (denied) return denied;
    }
    return (await fromCode('ENOENT', folder))!;
  }
  if (!info.isDirectory()) return new ConfigError(`${cannot}: ${folder} is a file, not a folder`, {cause: error});
  for (const path of [folder, join(folder, LOCK_FILE)]) {
    const denied = await access(path, constants.R_OK | constants.W_OK).then(
      () => null,
      (accessError: unknown) => (errnoCode(accessError) === 'ENOENT' ? null : fromCode(errnoCode(accessError), path)),
    );
    if (denied) return denied;
  }
  const holder = (await lockHolder(join(folder, LOCK_FILE))) ?? (await sharePid(folder));
  if (holder !== null && holder !== process.pid) {
    const name = await processName(holder);
    return new UnavailableError(
      `the embedded database ${folder} is held by another process that does not share it (pid ${holder}${name ? `, ${name}` : ''}; only 'edw listen' shares it): wait for it to end`,
      {cause: error},
    );
  }
  const space = await statfs(folder).catch(() => null);
  if (space) {
    // root may use the blocks reserved for it, others only the available ones.
    const free = (process.getuid?.() === 0 ? space.bfree : space.bavail) * space.bsize;
    if (free < FULL_BELOW_BYTES) return new UnavailableError(`${cannot}: its disk is full (${megabytes(free)} free)`, {cause: error});
    if (space.ffree === 0) return new UnavailableError(`${cannot}: its disk has no free inodes`, {cause: error});
  }
  return new EdwError(`${cannot}: ${reason.split('\n')[0]}`, {cause: error});
}

/** Who this process runs as, for a permission message. */
function userName(): string {
  try {
    return `user ${userInfo().username}`;
  } catch {
    return 'this user';
  }
}
