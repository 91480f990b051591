import {createHash, createHmac, timingSafeEqual} from 'node:crypto';
import {appendFile, mkdir, readFile} from 'node:fs/promises';
import {dirname} from 'node:path';

/**
 * OpenSSH's known_hosts format (sshd(8) "SSH_KNOWN_HOSTS FILE FORMAT"), as far as a client checking
 * one host needs it: `[@marker] patterns keytype base64-key [comment]`, patterns being a comma list
 * with `*`, `?` and `!` negation, `[host]:port` for a port other than 22, or one hashed name
 * `|1|base64(salt)|base64(HMAC-SHA1(salt, name))`. No well-kept npm package parses this (sshpk reads
 * keys, not known_hosts files), so it is done here, with the tests holding it to OpenSSH's rules.
 */
export interface KnownHostEntry {
  /** 1-based line in the file, for messages. */
  line: number;
  marker: 'revoked' | 'cert-authority' | undefined;
  /** The host field as written (patterns or a hashed name). */
  hosts: string;
  /** The key type inside the key blob (authoritative over the written type). */
  keyType: string;
  key: Buffer;
}

/** The name OpenSSH looks up: `host`, or `[host]:port` when the port is not 22. */
export function hostKeyName(host: string, port: number): string {
  const lower = host.toLowerCase();
  return port === 22 ? lower : `[${lower}]:${port}`;
}

/** `SHA256:` and the unpadded base64 of the key blob's SHA-256, as `ssh-keygen -l` and ssh print it. */
export function fingerprint(key: Buffer): string {
  return `SHA256:${createHash('sha256').update(key).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named at the start of an SSH public key blob (`ssh-ed25519`, `ssh-rsa`, ...). */
export function keyTypeOf(key: Buffer): string {
  if (key.length < 4) return '';
  const length = key.readUInt32BE(0);
  if (length > key.length - 4 || length > 64) return '';
  return key.subarray(4, 4 + length).toString('latin1');
}

/** Parse a known_hosts text; malformed lines are skipped, as OpenSSH skips them. */
export function parseKnownHosts(text: string): KnownHostEntry[] {
  const entries: KnownHostEntry[] = [];
  text.split(/\r?\n/).forEach((raw, index) => {
    const fields = raw.trim().split(/\s+/);
    if (fields[0] === '' || fields[0]!.startsWith('#')) return;
    let marker: KnownHostEntry['marker'];
    if (fields[0]!.startsWith('@')) {
      const name = fields.shift()!.slice(1);
      if (name !== 'revoked' && name !== 'cert-authority') return;
      marker = name;
    }
    const [hosts, writtenType, base64] = fields;
    if (!hosts || !writtenType || !base64 || !/^[A-Za-z0-9+/]+=*$/.test(base64)) return;
    const key = Buffer.from(base64, 'base64');
    const keyType = keyTypeOf(key);
    if (!keyType) return;
    entries.push({line: index + 1, marker, hosts, keyType, key});
  });
  return entries;
}

/** OpenSSH's match_pattern: `*` any run of characters, `?` one character; case-insensitive for host names. */
function matchPattern(name: string, pattern: string): boolean {
  const regex = pattern.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${regex}$`, 'i').test(name);
}

function matchHashed(name: string, field: string): boolean {
  const parts = field.split('|'); // ['', '1', salt, hash]
  if (parts.length !== 4 || parts[1] !== '1') return false;
  const salt = Buffer.from(parts[2]!, 'base64');
  const expected = Buffer.from(parts[3]!, 'base64');
  const actual = createHmac('sha1', salt).update(name).digest();
  return expected.length === actual.length && timingSafeEqual(expected, actual);
}

/** Whether an entry's host field names `name` (see `hostKeyName`): a negated pattern that matches wins over any other. */
export function hostsFieldMatches(field: string, name: string): boolean {
  if (field.startsWith('|')) return matchHashed(name, field);
  let matched = false;
  for (const pattern of field.split(',')) {
    if (pattern.startsWith('!')) {
      if (matchPattern(name, pattern.slice(1))) return false;
    } else if (pattern && matchPattern(name, pattern)) {
      matched = true;
    }
  }
  return matched;
}

/** What the file says about one key offered by one host. */
export type HostKeyVerdict =
  | {status: 'known'; entry: KnownHostEntry}
  /** No entry of this key type for the host; `otherTypes` are the types it does have entries for. */
  | {status: 'unknown'; otherTypes: string[]}
  /** An entry of the same type holds another key: possibly someone in the middle. */
  | {status: 'changed'; entry: KnownHostEntry}
  | {status: 'revoked'; entry: KnownHostEntry};

/** Check a host's key against the entries, the way OpenSSH's check_key_in_hostkeys does (certificate authorities are not used). */
export function checkHostKey(entries: KnownHostEntry[], name: string, key: Buffer): HostKeyVerdict {
  const forHost = entries.filter((e) => e.marker !== 'cert-authority' && hostsFieldMatches(e.hosts, name));
  const revoked = forHost.find((e) => e.marker === 'revoked' && e.key.equals(key));
  if (revoked) return {status: 'revoked', entry: revoked};
  const plain = forHost.filter((e) => e.marker === undefined);
  const same = plain.find((e) => e.key.equals(key));
  if (same) return {status: 'known', entry: same};
  const type = keyTypeOf(key);
  const changed = plain.find((e) => e.keyType === type);
  if (changed) return {status: 'changed', entry: changed};
  return {status: 'unknown', otherTypes: [...new Set(plain.map((e) => e.keyType))]};
}

/** The key types the file knows for a host, so the client can ask the server for one of those first (as OpenSSH does). */
export function knownKeyTypes(entries: KnownHostEntry[], name: string): string[] {
  return [...new Set(entries.filter((e) => e.marker === undefined && hostsFieldMatches(e.hosts, name)).map((e) => e.keyType))];
}

/** Read a known_hosts file; a missing file is an empty one. */
export async function readKnownHosts(path: string): Promise<KnownHostEntry[]> {
  try {
    return parseKnownHosts(await readFile(path, 'utf8'));
  } catch (error) {
    if ((error as NodeJS.ErrnoException).code === 'ENOENT') return [];
    throw error;
  }
}

// One append at a time per file in this process: several transfers meeting a new host at once
// would otherwise each record it.
const appending = new Map<string, Promise<unknown>>();

/**
 * Record a host's key (`accept-new`) unless the file already holds it, as a plain (unhashed) line like
 * `[host]:port ssh-ed25519 AAAA...`; `ssh-keygen -H` hashes the file afterwards if wanted. Creates the
 * file (mode 0600) and its folder (0700) when missing.
 */
export function appendKnownHost(path: string, name: string, key: Buffer): Promise<void> {
  const previous = appending.get(path) ?? Promise.resolve();
  const next = previous.catch(() => {}).then(async () => {
    const entries = await readKnownHosts(path);
    if (checkHostKey(entries, name, key).status === 'known') return;
    await mkdir(dirname(path), {recursive: true, mode: 0o700});
    let text = '';
    try {
      text = await readFile(path, 'utf8');
    } catch {
      // missing: created below
    }
    const separator = text && !text.endsWith('\n') ? '\n' : '';
    await appendFile(path, `${separator}${name} ${keyTypeOf(key)} ${key.toString('base64')}\n`, {mode: 0o600});
  });
  appending.set(path, next);
  void next.finally(() => {
    if (appending.get(path) === next) appending.delete(path);
  }).catch(() => {});
  return next;
}
