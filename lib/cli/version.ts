import {readFileSync} from 'node:fs';
import {compileDesignDocs, DESIGN_DOCS_DIR, designVersion} from '../design/index.js';

/** edw's own version, from its package.json (the same from sources and from `dist/`). */
export function packageVersion(): string {
  const file = new URL(import.meta.url.includes('/dist/') ? '../../../package.json' : '../../package.json', import.meta.url);
  return (JSON.parse(readFileSync(file, 'utf8')) as {version: string}).version;
}

/**
 * What `edw --version` prints: the package version and the version of the design documents this edw
 * pushes (`designVersion`, a hash of their functions that a database's copy can be checked against).
 */
export async function versionLine(): Promise<string> {
  return `edw ${packageVersion()} (design documents ${designVersion(await compileDesignDocs(DESIGN_DOCS_DIR))})`;
}
