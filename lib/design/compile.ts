import {readdir, readFile, stat} from 'node:fs/promises';
import {join, relative} from 'node:path';
import {ConfigError} from '../errors/index.js';

/** A design document as CouchDB stores it (functions as source strings). */
export interface DesignDoc {
  _id: string;
  _rev?: string;
  language: 'javascript';
  views?: Record<string, {map: string; reduce?: string}>;
  filters?: Record<string, string>;
  validate_doc_update?: string;
  /**
   * false: CouchDB's background indexer (ken) leaves this document's views alone; they are brought up
   * to date when queried. From `autoupdate.json` in the design folder.
   */
  autoupdate?: boolean;
}

const INCLUDE = /^[ \t]*\/\/ !code (\S+)[ \t]*$/gm;

async function isDir(path: string): Promise<boolean> {
  return (await stat(path).catch(() => null))?.isDirectory() ?? false;
}

/** Read a function's source, inlining couchapp-style `// !code lib/x.js` lines from the design folder. */
async function readFunction(folder: string, file: string): Promise<string> {
  const source = await readFile(join(folder, file), 'utf8');
  const includes = [...source.matchAll(INCLUDE)];
  let out = source;
  for (const match of includes) {
    const included = await readFile(join(folder, match[1]!), 'utf8').catch(() => {
      throw new ConfigError(`${join(folder, file)}: '// !code ${match[1]}' names a file that does not exist`);
    });
    out = out.replace(match[0], included.trim().split('\n').map((l) => `  ${l}`).join('\n'));
  }
  // Leading comments are for readers of the source; CouchDB wants the function expression itself.
  return out.replace(/^(\s*\/\/[^\n]*\n)+/, '').trim();
}

/** Compile `design-docs/<name>/` (views/<v>/map.js and reduce[.js], filters/<f>.js, validate_doc_update.js). */
export async function compileDesignDoc(folder: string, name: string): Promise<DesignDoc> {
  const doc: DesignDoc = {_id: `_design/${name}`, language: 'javascript'};
  const viewsDir = join(folder, 'views');
  if (await isDir(viewsDir)) {
    doc.views = {};
    for (const view of (await readdir(viewsDir)).sort()) {
      const dir = join(viewsDir, view);
      if (!(await isDir(dir))) continue;
      const files = await readdir(dir);
      if (!files.includes('map.js')) throw new ConfigError(`${relative(process.cwd(), dir)}: a view needs map.js`);
      const entry: {map: string; reduce?: string} = {map: await readFunction(folder, join('views', view, 'map.js'))};
      const reduceFile = files.find((f) => f === 'reduce.js' || f === 'reduce');
      if (reduceFile) entry.reduce = await readFunction(folder, join('views', view, reduceFile));
      doc.views[view] = entry;
    }
  }
  const filtersDir = join(folder, 'filters');
  if (await isDir(filtersDir)) {
    doc.filters = {};
    for (const file of (await readdir(filtersDir)).filter((f) => f.endsWith('.js')).sort()) {
      doc.filters[file.slice(0, -3)] = await readFunction(folder, join('filters', file));
    }
  }
  const validate = join(folder, 'validate_doc_update.js');
  if (await stat(validate).catch(() => null)) doc.validate_doc_update = await readFunction(folder, 'validate_doc_update.js');
  const autoupdate = join(folder, 'autoupdate.json');
  if (await stat(autoupdate).catch(() => null)) {
    let value: unknown;
    try {
      value = JSON.parse(await readFile(autoupdate, 'utf8'));
    } catch {
      value = undefined;
    }
    if (typeof value !== 'boolean') throw new ConfigError(`${relative(process.cwd(), autoupdate)}: expected true or false`);
    doc.autoupdate = value;
  }
  return doc;
}

/** Compile every design document folder under `root`. */
export async function compileDesignDocs(root: string): Promise<DesignDoc[]> {
  const names = (await readdir(root).catch(() => {
    throw new ConfigError(`design documents folder ${root} does not exist`);
  })).sort();
  const docs: DesignDoc[] = [];
  for (const name of names) {
    if (await isDir(join(root, name))) docs.push(await compileDesignDoc(join(root, name), name));
  }
  return docs;
}

/** Every function source of a design doc, by a readable path (`views.stage.map`), for diffs and checks. */
export function designFunctions(doc: DesignDoc): Array<[string, string]> {
  const out: Array<[string, string]> = [];
  for (const [name, view] of Object.entries(doc.views ?? {})) {
    out.push([`views.${name}.map`, view.map]);
    if (view.reduce !== undefined) out.push([`views.${name}.reduce`, view.reduce]);
  }
  for (const [name, source] of Object.entries(doc.filters ?? {})) out.push([`filters.${name}`, source]);
  if (doc.validate_doc_update !== undefined) out.push(['validate_doc_update', doc.validate_doc_update]);
  // Not a function, but part of what a database must hold for this edw: a change is pushed like one.
  if (doc.autoupdate !== undefined) out.push(['autoupdate', String(doc.autoupdate)]);
  return out;
}
