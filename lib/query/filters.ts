import {ConfigError} from '../errors/index.js';

/** The operators of a FILTER argument (`PATH OP VALUE`); `prefix` comes from `--run R*` only. */
export const OPERATORS = ['=', '!=', '<', '<=', '>', '>=', 'in', 'contains'] as const;
export type Operator = (typeof OPERATORS)[number] | 'prefix';
export type Scalar = string | number | boolean | null;

/** One condition on a field of the document: `conditions.temperature < 0.02`. */
export interface Filter {
  /** Dotted path; array positions are path segments (`conditions.volts.detector_a.0`). */
  path: string;
  op: Operator;
  /** A list for `in`, else one value. */
  value: Scalar | Scalar[];
}

const FILTER = /^\s*([A-Za-z_$][\w$-]*(?:(?:\.[\w$-]+)|\[\d+\])*)\s*(<=|>=|!=|=|<|>|\s+in\s+|\s+contains\s+)\s*(.*?)\s*$/;

/**
 * A value as typed: a number is a number (`0.02`, `8`), `true`, `false` and `null` are themselves, a
 * quoted text is text (`"8"` to compare with the text 8), anything else is text as written.
 */
export function parseValue(text: string): Scalar {
  if (/^-?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?$/i.test(text)) return Number(text);
  if (text === 'true') return true;
  if (text === 'false') return false;
  if (text === 'null') return null;
  const quoted = /^"(.*)"$|^'(.*)'$/.exec(text);
  return quoted ? (quoted[1] ?? quoted[2]!) : text;
}

/** `PATH OP VALUE`, one command-line argument: `facility=tunka`, `conditions.channel in (A,B)`. */
export function parseFilter(text: string): Filter {
  const m = FILTER.exec(text);
  if (!m || m[3] === '') {
    throw new ConfigError(`filter '${text}': expected PATH OP VALUE with OP one of ${OPERATORS.join(' ')} ('conditions.temperature<0.02', 'run in (a,b)')`);
  }
  const path = m[1]!.replace(/\[(\d+)\]/g, '.$1');
  const op = m[2]!.trim() as Operator;
  if (op !== 'in') return {path, op, value: parseValue(m[3]!)};
  const list = /^[([](.*)[)\]]$/.exec(m[3]!);
  if (!list) throw new ConfigError(`filter '${text}': 'in' takes a list in parentheses, like (A,B)`);
  return {path, op, value: list[1]!.split(',').map((v) => parseValue(v.trim()))};
}
