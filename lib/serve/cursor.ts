import {ConfigError} from '../errors/index.js';

/** A page's cursor: what the next page starts from, as an opaque URL-safe string. */
export function encodeCursor(position: Record<string, unknown>): string {
  return Buffer.from(JSON.stringify(position)).toString('base64url');
}

/** The position in a cursor given back, checked by `valid`; anything else is a bad request. */
export function decodeCursor<T>(cursor: string, valid: (value: Record<string, unknown>) => boolean): T {
  let value: unknown;
  try {
    value = JSON.parse(Buffer.from(cursor, 'base64url').toString('utf8'));
  } catch {
    value = undefined;
  }
  if (typeof value !== 'object' || value === null || !valid(value as Record<string, unknown>)) {
    throw new ConfigError(`cursor ${cursor.slice(0, 40)}: not a cursor this API gave (pass the 'next' of the previous page as it is)`);
  }
  return value as T;
}
