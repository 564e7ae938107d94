import { readFileSync, readdirSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { folderCycles, folderImports, layerViolations, parseLayerTable, type FolderImport } from './import-graph.js';

const root = process.cwd();
const layers = parseLayerTable(readFileSync('docs/architecture.md', 'utf8'));

describe('the import graph follows docs/architecture.md', () => {
  it('has no import against the documented direction and no folder-level cycle', () => {
    const imports = folderImports(root);
    expect(imports.length).toBeGreaterThan(50);
    expect(layerViolations(imports, layers)).toEqual([]);
    expect(folderCycles(imports)).toEqual([]);
  });

  it('names every folder of control-plane/ in the layer table', () => {
    const folders = readdirSync('control-plane', { withFileTypes: true }).filter((e) => e.isDirectory()).map((e) => e.name);
    const named = new Set(layers.flat());
    expect(folders.filter((f) => !named.has(f))).toEqual([]);
    expect(readdirSync('control-plane').filter((f) => f.endsWith('.ts'))).toEqual([]);
  });

  it('would catch a cycle introduced on purpose (model importing translate, translate importing model)', () => {
    const edge = (from: string, to: string): FolderImport => ({ from, to, fromFile: `control-plane/${from}/a.ts`, toFile: `control-plane/${to}/b.ts` });
    const planted = [...folderImports(root), edge('model', 'translate')];
    expect(layerViolations(planted, layers)).toEqual(['control-plane/model/a.ts imports control-plane/translate/b.ts: "model" may not import "translate", which is above it']);
    expect(folderCycles(planted)).toContain('model → translate → model');
    expect(layerViolations([edge('sources', 'model')], layers)).toEqual(['control-plane/sources/a.ts imports control-plane/model/b.ts: "sources" and "model" are siblings and may not import each other']);
    expect(layerViolations([edge('newfolder', 'core')], layers)).toEqual(['folder "newfolder" is not in the layer table (control-plane/newfolder/a.ts)']);
  });
});
