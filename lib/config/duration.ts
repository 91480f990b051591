import {ConfigError} from '../errors/index.js';

const UNITS: Record<string, number> = {ms: 1, s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000};

/** Parse a duration that carries its unit (`500ms`, `10s`, `5m`, `1h`, `2d`) into milliseconds. */
export function parseDuration(value: string, where: string): number {
  const match = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)\s*$/.exec(value);
  if (!match) throw new ConfigError(`${where} = ${value}: expected a duration with its unit, like 500ms, 10s, 5m or 1h`);
  return Math.round(Number(match[1]) * UNITS[match[2]!]!);
}

/** A duration in milliseconds as edw.ini writes it, in its largest whole unit (`7d`, `90m`, `1500ms`): parseDuration's inverse. */
export function formatDuration(ms: number): string {
  const [unit, size] = Object.entries(UNITS).filter(([, size]) => ms >= size && ms % size === 0).pop() ?? ['ms', 1];
  return `${ms / size}${unit}`;
}
