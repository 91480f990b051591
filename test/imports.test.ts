/**
 * The shape of the code, checked on its sources: no two folders of lib/ (and listeners/) import each
 * other, directly or through others (a folder is one layer: what it imports sits below it), and the
 * runtime's files stay short (issue 15).
 */
import {readdir, readFile} from 'node:fs/promises';
import {dirname, join, relative, resolve, sep} from 'node:path';
import {fileURLToPath} from 'node:url';
import test from 'ava';
import ts from 'typescript';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const MAX_RUNTIME_LINES = 250;

async function sourceFiles(folder: string): Promise<string[]> {
  const entries = await readdir(join(ROOT, folder), {recursive: true, withFileTypes: true});
  return entries
    .filter((e) => e.isFile() && e.name.endsWith('.ts') && !e.name.endsWith('.d.ts'))
    .map((e) => relative(ROOT, join(e.parentPath, e.name)).split(sep).join('/'));
}

/** The folder a source file belongs to: `lib/<name>` or `listeners`. */
function folderOf(file: string): string {
  const parts = file.split('/');
  return parts[0] === 'lib' ? `lib/${parts[1]!.replace(/\.ts$/, '')}` : parts[0]!;
}

/** One import from a folder to another: which file imports what, as evidence for a cycle's edges. */
type Edges = Map<string, Map<string, string>>;

/** Folder -> folder edges of every relative import (type-only ones too: they are layering as well). */
async function folderGraph(): Promise<Edges> {
  const edges: Edges = new Map();
  for (const file of [...(await sourceFiles('lib')), ...(await sourceFiles('listeners'))]) {
    const from = folderOf(file);
    if (!edges.has(from)) edges.set(from, new Map());
    const info = ts.preProcessFile(await readFile(join(ROOT, file), 'utf8'), true, true);
    for (const {fileName} of info.importedFiles) {
      if (!fileName.startsWith('.')) continue;
      const target = relative(ROOT, resolve(ROOT, dirname(file), fileName)).split(sep).join('/');
      if (!(target.startsWith('lib/') || target.startsWith('listeners/'))) continue;
      const to = folderOf(target);
      if (to !== from && !edges.get(from)!.has(to)) edges.get(from)!.set(to, `${file} imports ${fileName}`);
    }
  }
  return edges;
}

/** Every cycle's folders, as one path per strongly connected component (Tarjan), with the import behind each step. */
export function findCycles(edges: Edges): string[] {
  const index = new Map<string, number>();
  const low = new Map<string, number>();
  const stack: string[] = [];
  const onStack = new Set<string>();
  const components: string[][] = [];
  const visit = (node: string): void => {
    index.set(node, index.size);
    low.set(node, index.get(node)!);
    stack.push(node);
    onStack.add(node);
    for (const next of edges.get(node)?.keys() ?? []) {
      if (!index.has(next)) {
        visit(next);
        low.set(node, Math.min(low.get(node)!, low.get(next)!));
      } else if (onStack.has(next)) low.set(node, Math.min(low.get(node)!, index.get(next)!));
    }
    if (low.get(node) !== index.get(node)) return;
    const component: string[] = [];
    let member: string;
    do {
      member = stack.pop()!;
      onStack.delete(member);
      component.push(member);
    } while (member !== node);
    if (component.length > 1) components.push(component);
  };
  for (const node of [...edges.keys()].sort()) if (!index.has(node)) visit(node);
  return components.map((component) => describeCycle(edges, new Set(component)));
}

/** One cycle through a component, from its first folder back to it, each step with its import. */
function describeCycle(edges: Edges, component: Set<string>): string {
  const start = [...component].sort()[0]!;
  // Breadth-first from start's successors back to start, inside the component.
  const previous = new Map<string, string>();
  const queue = [...(edges.get(start)?.keys() ?? [])].filter((n) => component.has(n));
  for (const n of queue) previous.set(n, start);
  while (queue.length > 0 && !previous.has(`${start}#back`)) {
    const node = queue.shift()!;
    for (const next of edges.get(node)?.keys() ?? []) {
      if (next === start) {
        previous.set(`${start}#back`, node);
        break;
      }
      if (component.has(next) && !previous.has(next)) {
        previous.set(next, node);
        queue.push(next);
      }
    }
  }
  const path = [start];
  for (let node = previous.get(`${start}#back`)!; node !== start; node = previous.get(node)!) path.unshift(node);
  path.unshift(start);
  return path.slice(0, -1).map((from, i) => `${from} -> ${path[i + 1]} (${edges.get(from)!.get(path[i + 1]!)})`).join('; ');
}

test('the cycle finder names a cycle between folders, with the import behind each step', (t) => {
  const edges: Edges = new Map([
    ['lib/a', new Map([['lib/b', 'lib/a/x.ts imports ../b/index.js']])],
    ['lib/b', new Map([['lib/c', 'lib/b/y.ts imports ../c/index.js']])],
    ['lib/c', new Map([['lib/a', 'lib/c/z.ts imports ../a/index.js']])],
    ['lib/d', new Map([['lib/a', 'lib/d/w.ts imports ../a/index.js']])],
  ]);
  t.deepEqual(findCycles(edges), [
    'lib/a -> lib/b (lib/a/x.ts imports ../b/index.js); lib/b -> lib/c (lib/b/y.ts imports ../c/index.js); lib/c -> lib/a (lib/c/z.ts imports ../a/index.js)',
  ]);
  edges.get('lib/c')!.delete('lib/a');
  t.deepEqual(findCycles(edges), []);
});

test('no two folders of lib/ and listeners/ import each other, directly or through others', async (t) => {
  const edges = await folderGraph();
  t.true(edges.has('lib/runtime') && edges.has('listeners'), 'the sources were read');
  t.deepEqual(findCycles(edges), []);
});

test(`no file in lib/runtime is over ${MAX_RUNTIME_LINES} lines`, async (t) => {
  const files = await sourceFiles('lib/runtime');
  t.true(files.length > 0);
  const long: string[] = [];
  for (const file of files) {
    const lines = (await readFile(join(ROOT, file), 'utf8')).split('\n').length - 1;
    if (lines > MAX_RUNTIME_LINES) long.push(`${file}: ${lines} lines`);
  }
  t.deepEqual(long, []);
});
