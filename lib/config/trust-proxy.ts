import {isIP} from 'node:net';
import {ConfigError} from '../errors/index.js';

/** The names of address ranges fastify's trustProxy (proxy-addr) knows. */
const RANGE_NAMES = ['loopback', 'linklocal', 'uniquelocal'];

/** Whether `entry` is an address, an address/prefix (CIDR), or a range name. */
function isAddressOrRange(entry: string): boolean {
  if (RANGE_NAMES.includes(entry)) return true;
  const [address, prefix, extra] = entry.split('/');
  const family = isIP(address!);
  if (family === 0 || extra !== undefined) return false;
  if (prefix === undefined) return true;
  // proxy-addr also takes a netmask (10.0.0.0/255.0.0.0) for IPv4.
  if (family === 4 && isIP(prefix) === 4) return true;
  return /^\d{1,3}$/.test(prefix) && Number(prefix) <= (family === 4 ? 32 : 128);
}

/**
 * `[serve] trust_proxy`: which reverse proxies `edw serve` believes about the client's address
 * (`X-Forwarded-For`), as fastify's trustProxy takes it. Empty or `off`: none (the header is
 * ignored). Else a comma-separated list of addresses, CIDRs (`10.0.0.0/8`) and range names
 * (`loopback`, `linklocal`, `uniquelocal`). Refused: `true` (trust every hop) and a hop count, which
 * cannot tell a proxy from a client that connects directly and names any address it likes (fastify 5
 * takes a number as trusting nothing for that reason).
 */
export function parseTrustProxy({value, where}: {value: string; where: string}): string[] | undefined {
  const text = value.trim();
  if (text === '' || text.toLowerCase() === 'off') return undefined;
  if (/^\d+$/.test(text)) {
    throw new ConfigError(`${where} = ${value}: a hop count would believe any client that connects directly; name the proxies' addresses or CIDRs (127.0.0.1, 10.0.0.0/8), or off`);
  }
  const entries = text.split(',').map((e) => e.trim()).filter(Boolean);
  const bad = entries.find((e) => !isAddressOrRange(e));
  if (bad !== undefined) throw new ConfigError(`${where} = ${value}: '${bad}' is not an address, a CIDR (10.0.0.0/8) or one of ${RANGE_NAMES.join(', ')}; give off, a hop count or a list of them`);
  return entries;
}
