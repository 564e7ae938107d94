/**
 * The folder-level import graph of the shipped code (control-plane/ and
 * webhook/), and the check of it against the layer table in
 * docs/architecture.md. Tests import anything; shipped code imports only
 * downwards.
 */
import { readdirSync, readFileSync, statSync } from 'node:fs';
import path from 'node:path';
import ts from 'typescript';

export interface FolderImport {
  readonly fromFile: string;
  readonly toFile: string;
  readonly from: string;
  readonly to: string;
}

/** The folder a file belongs to for layering: `control-plane/model/x.ts` → `model`, `webhook/x.ts` → `webhook`, `control-plane/cli/commands/x.ts` → `cli`. */
export function layerFolderOf(relativeFile: string): string {
  const parts = relativeFile.split('/');
  if (parts[0] === 'control-plane') return parts.length > 2 ? parts[1]! : '(control-plane root)';
  return parts[0]!;
}

function sourceFiles(root: string, dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(path.join(root, dir))) {
    const relative = `${dir}/${name}`;
    if (statSync(path.join(root, relative)).isDirectory()) out.push(...sourceFiles(root, relative));
    else if (name.endsWith('.ts')) out.push(relative);
  }
  return out;
}

/** Every relative import (static, dynamic, re-export) between files of different layer folders. */
export function folderImports(root: string, topFolders: readonly string[] = ['control-plane', 'webhook']): FolderImport[] {
  const imports: FolderImport[] = [];
  for (const file of topFolders.flatMap((top) => sourceFiles(root, top))) {
    const info = ts.preProcessFile(readFileSync(path.join(root, file), 'utf8'), true, true);
    for (const reference of info.importedFiles) {
      if (!reference.fileName.startsWith('.')) continue;
      const toFile = path.posix.normalize(path.posix.join(path.posix.dirname(file), reference.fileName)).replace(/\.js$/, '.ts');
      const from = layerFolderOf(file);
      const to = layerFolderOf(toFile);
      if (from !== to) imports.push({ fromFile: file, toFile, from, to });
    }
  }
  return imports;
}

/** The ```layers block of docs/architecture.md: one line per layer, lowest first; folders on a line are siblings. */
export function parseLayerTable(markdown: string): string[][] {
  const block = /```layers\n([\s\S]*?)```/.exec(markdown);
  if (!block) throw new Error('docs/architecture.md has no ```layers block');
  return block[1]!
    .split('\n')
    .map((line) => line.replace(/#.*$/, '').trim())
    .filter(Boolean)
    .map((line) => line.split(/\s+/));
}

/** Every import that goes sideways (between siblings) or upwards, and every folder the table does not name. */
export function layerViolations(imports: readonly FolderImport[], layers: readonly (readonly string[])[]): string[] {
  const rank = new Map<string, number>();
  layers.forEach((folders, index) => folders.forEach((folder) => rank.set(folder, index)));
  const problems = new Set<string>();
  for (const edge of imports) {
    const from = rank.get(edge.from);
    const to = rank.get(edge.to);
    if (from === undefined) problems.add(`folder "${edge.from}" is not in the layer table (${edge.fromFile})`);
    if (to === undefined) problems.add(`folder "${edge.to}" is not in the layer table (${edge.toFile})`);
    if (from === undefined || to === undefined) continue;
    if (to === from) problems.add(`${edge.fromFile} imports ${edge.toFile}: "${edge.from}" and "${edge.to}" are siblings and may not import each other`);
    else if (to > from) problems.add(`${edge.fromFile} imports ${edge.toFile}: "${edge.from}" may not import "${edge.to}", which is above it`);
  }
  return [...problems].sort();
}

/** Folder-level cycles, each as a path `a → b → a` (independent of the table, so a wrong table cannot hide one). */
export function folderCycles(imports: readonly FolderImport[]): string[] {
  const edges = new Map<string, Set<string>>();
  for (const edge of imports) edges.set(edge.from, (edges.get(edge.from) ?? new Set()).add(edge.to));
  const cycles: string[] = [];
  const state = new Map<string, 'visiting' | 'done'>();
  const stack: string[] = [];
  const visit = (node: string): void => {
    state.set(node, 'visiting');
    stack.push(node);
    for (const next of [...(edges.get(node) ?? [])].sort()) {
      if (state.get(next) === 'visiting') cycles.push([...stack.slice(stack.indexOf(next)), next].join(' → '));
      else if (!state.has(next)) visit(next);
    }
    stack.pop();
    state.set(node, 'done');
  };
  for (const node of [...edges.keys()].sort()) if (!state.has(node)) visit(node);
  return cycles;
}
