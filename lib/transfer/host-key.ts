import {StepError} from '../errors/index.js';
import {appendKnownHost, checkHostKey, fingerprint, hostKeyName, keyTypeOf, knownKeyTypes, readKnownHosts} from './known-hosts.js';
import type {ResolvedSftpOptions} from './options.js';

/** ssh2's host key algorithms, in its default order of preference. */
const HOST_KEY_ALGORITHMS = ['ssh-ed25519', 'ecdsa-sha2-nistp256', 'ecdsa-sha2-nistp384', 'ecdsa-sha2-nistp521', 'rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'];

/** The signature algorithms that prove a key of each type. */
const ALGORITHMS_OF_KEY_TYPE: Record<string, string[]> = {
  'ssh-ed25519': ['ssh-ed25519'],
  'ecdsa-sha2-nistp256': ['ecdsa-sha2-nistp256'],
  'ecdsa-sha2-nistp384': ['ecdsa-sha2-nistp384'],
  'ecdsa-sha2-nistp521': ['ecdsa-sha2-nistp521'],
  'ssh-rsa': ['rsa-sha2-512', 'rsa-sha2-256', 'ssh-rsa'],
};

/** What a connection needs to check the server's host key, and what the check decided. */
export interface HostKeyPolicy {
  /** For ssh2's `hostVerifier`: answers through `verify` once the check (and any append) is done. */
  verify(key: Buffer, verify: (valid: boolean) => void): void;
  /** Host key algorithms with those the file knows for this host first, so a server with several keys shows a known one (as OpenSSH orders them). */
  algorithms: string[];
  /** Set when the key was refused: the error the connection attempt should fail with. */
  refusal: StepError | undefined;
}

/**
 * Build the host key check of one connection attempt from the known_hosts file, as OpenSSH's
 * StrictHostKeyChecking does: `yes` refuses unknown and changed keys, `accept-new` records an
 * unknown host and refuses a changed key, `off` accepts anything and says so in the log each time.
 */
export async function hostKeyPolicy(options: ResolvedSftpOptions): Promise<HostKeyPolicy> {
  const {host, port, knownHostsFile: file, hostKeyCheck: mode, log} = options;
  const name = hostKeyName(host, port);
  const where = `${host}:${port}`;
  let entries: Awaited<ReturnType<typeof readKnownHosts>>;
  try {
    entries = await readKnownHosts(file);
  } catch (error) {
    throw new StepError(`cannot read known_hosts file ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {cause: error});
  }
  const preferred = knownKeyTypes(entries, name).flatMap((type) => ALGORITHMS_OF_KEY_TYPE[type] ?? []);
  const policy: HostKeyPolicy = {
    algorithms: [...new Set([...preferred, ...HOST_KEY_ALGORITHMS])],
    refusal: undefined,
    verify(key, answer) {
      const type = keyTypeOf(key);
      const shown = `${type} key ${fingerprint(key)}`;
      const refuse = (message: string) => {
        policy.refusal = new StepError(message);
        answer(false);
      };
      if (mode === 'off') {
        log?.warn('host key not checked (host_key_check = off)', {host: where, key: shown});
        answer(true);
        return;
      }
      const verdict = checkHostKey(entries, name, key);
      switch (verdict.status) {
        case 'known':
          answer(true);
          return;
        case 'revoked':
          refuse(`host key of ${where} (${shown}) is marked @revoked in ${file}:${verdict.entry.line}`);
          return;
        case 'changed':
          refuse(`host key of ${where} changed (now ${shown}); ${file}:${verdict.entry.line} holds another ${verdict.entry.keyType} key; if the change is expected, remove it (ssh-keygen -R '${name}' -f ${file})`);
          return;
        case 'unknown':
          if (mode === 'yes') {
            const others = verdict.otherTypes.length ? ` (it knows only ${verdict.otherTypes.join(', ')} keys for this host)` : '';
            refuse(`host key of ${where} (${shown}) is not in ${file}${others}; add it (ssh-keyscan -p ${port} ${host} >> ${file}, then check the fingerprint) or set host_key_check = accept-new`);
            return;
          }
          appendKnownHost(file, name, key).then(() => {
            log?.warn('new host key recorded (host_key_check = accept-new)', {host: where, key: shown, file});
            answer(true);
          }, (error: unknown) => {
            policy.refusal = new StepError(`cannot record the host key of ${where} in ${file}: ${(error as NodeJS.ErrnoException).code ?? String(error)}`, {cause: error});
            answer(false);
          });
      }
    },
  };
  return policy;
}
