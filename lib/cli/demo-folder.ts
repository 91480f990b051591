import {mkdir, readdir, readFile, rm, writeFile} from 'node:fs/promises';
import {basename, join} from 'node:path';
import {ConfigError} from '../errors/index.js';

/** The file by which `edw demo` knows a folder as its own, listing the entries it makes there. */
export const DEMO_MARKER = '.edw-demo.json';

interface Marker {
  made_by: 'edw demo';
  /** Entries of the folder the demo makes, by name; only these are removed when it runs again. */
  entries: string[];
}

function readMarker(text: string): string[] | null {
  try {
    const marker = JSON.parse(text) as Partial<Marker>;
    if (marker.made_by !== 'edw demo' || !Array.isArray(marker.entries)) return null;
    // A name with a separator or `..` would reach outside the folder: not one the demo wrote.
    return marker.entries.filter((name): name is string => typeof name === 'string' && name !== '' && name !== '.' && name !== '..' && basename(name) === name);
  } catch {
    return null;
  }
}

/**
 * Make `dir` ready for a demo that will write `entries` (names directly under it). edw never deletes
 * what it did not make: a missing or empty folder is taken and marked ({@link DEMO_MARKER}); a folder
 * an earlier demo marked loses only the entries that demo listed; any other non-empty folder is
 * refused with a ConfigError. The marker is written before anything else, so a demo stopped half-way
 * leaves a folder the next one still knows.
 */
export async function prepareDemoFolder(dir: string, entries: string[]): Promise<void> {
  let present: string[];
  try {
    present = await readdir(dir);
  } catch (error) {
    const code = (error as NodeJS.ErrnoException).code;
    if (code === 'ENOTDIR') throw new ConfigError(`--dir ${dir} is a file: give the demo a new or empty folder`);
    if (code !== 'ENOENT') throw error;
    await mkdir(dir, {recursive: true});
    present = [];
  }
  if (present.length > 0) {
    const earlier = present.includes(DEMO_MARKER) ? readMarker(await readFile(join(dir, DEMO_MARKER), 'utf8')) : null;
    if (!earlier) {
      throw new ConfigError(`--dir ${dir} is not empty and was not made by edw demo (it has no ${DEMO_MARKER}): give a new or empty folder, or empty this one yourself`);
    }
    for (const name of earlier) await rm(join(dir, name), {recursive: true, force: true});
  }
  const marker: Marker = {made_by: 'edw demo', entries: [...new Set(entries)]};
  await writeFile(join(dir, DEMO_MARKER), `${JSON.stringify(marker)}\n`);
}
