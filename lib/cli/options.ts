import {ConfigError} from '../errors/index.js';

/** A commander parser for a numeric option: a whole number (or any number) of at least `min`, else exit 2 naming it. */
export function numberOption(option: string, {integer = true, min = 0}: {integer?: boolean; min?: number} = {}) {
  return (value: string): number => {
    const n = Number(value);
    if (value.trim() === '' || !Number.isFinite(n) || n < min || (integer && !Number.isInteger(n))) {
      throw new ConfigError(`${option} ${value}: expected a ${integer ? 'whole ' : ''}number of at least ${min}`);
    }
    return n;
  };
}
