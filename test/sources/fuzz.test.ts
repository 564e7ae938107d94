/**
 * Property-based: random and mutated YAML never makes the loader throw
 * anything but our typed error, never hangs, and never replaces the last good
 * snapshot with a bad one.
 */
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { stringify } from 'yaml';
import { ConfigError } from '../../control-plane/core/errors.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { SnapshotStore } from '../../control-plane/model/store.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';

async function exampleFiles(): Promise<Array<[string, string]>> {
  const files: Array<[string, string]> = [];
  const walk = async (dir: string) => {
    const entries = await readdir(dir, { withFileTypes: true });
    // A Helm chart is not read by the loader (its templates are manifests only once rendered).
    if (entries.some((e) => e.name === 'Chart.yaml')) return;
    for (const entry of entries) {
      const full = path.join(dir, entry.name);
      if (entry.isDirectory()) await walk(full);
      else if (/\.ya?ml$/.test(entry.name)) files.push([full, await readFile(full, 'utf8')]);
    }
  };
  await walk('examples');
  return files.sort(([a], [b]) => a.localeCompare(b));
}

/** Edits a careless human (or a broken CD job) makes to a YAML file. */
const mutation = fc.oneof(
  fc.record({ kind: fc.constant('delete' as const), at: fc.nat(), length: fc.integer({ min: 1, max: 40 }) }),
  fc.record({ kind: fc.constant('insert' as const), at: fc.nat(), text: fc.oneof(fc.string({ maxLength: 12 }), fc.constantFrom(':', '- ', '{', ']', '"', "'", '&a ', '*a', '!!binary ', '\t', '\n  ', '---\n', '0x1F', '-1', '1e400', 'null', '~', '? ', '|')) }),
  fc.record({ kind: fc.constant('swapLines' as const), a: fc.nat(), b: fc.nat() }),
  fc.record({ kind: fc.constant('number' as const), at: fc.nat(), value: fc.oneof(fc.integer(), fc.double()) }),
);
type Mutation = typeof mutation extends fc.Arbitrary<infer T> ? T : never;

function mutate(text: string, edit: Mutation): string {
  switch (edit.kind) {
    case 'delete': {
      const at = edit.at % (text.length + 1);
      return text.slice(0, at) + text.slice(at + edit.length);
    }
    case 'insert': {
      const at = edit.at % (text.length + 1);
      return text.slice(0, at) + edit.text + text.slice(at);
    }
    case 'swapLines': {
      const lines = text.split('\n');
      const a = edit.a % lines.length;
      const b = edit.b % lines.length;
      [lines[a], lines[b]] = [lines[b]!, lines[a]!];
      return lines.join('\n');
    }
    case 'number': {
      const numbers = [...text.matchAll(/\b\d+\b/g)];
      if (numbers.length === 0) return text;
      const match = numbers[edit.at % numbers.length]!;
      return text.slice(0, match.index) + String(edit.value) + text.slice(match.index! + match[0].length);
    }
  }
}

describe('loader under random and mutated input', () => {
  it('never throws, never hangs, and a rejected load never replaces the last good snapshot', async () => {
    const files = await exampleFiles();
    const store = new SnapshotStore(createLogger('silent'));
    expect(store.apply(loadFromTexts(files))).toBeUndefined();
    const good = store.current!;
    let rejected = 0;
    fc.assert(
      fc.property(fc.nat(), fc.array(mutation, { minLength: 1, maxLength: 4 }), (fileIndex, edits) => {
        const target = fileIndex % files.length;
        const mutated = files.map(([label, text], i) => [label, i === target ? edits.reduce(mutate, text) : text] as [string, string]);
        const started = performance.now();
        const error = store.apply(loadFromTexts(mutated));
        expect(performance.now() - started).toBeLessThan(2000);
        if (error) {
          rejected++;
          expect(error).toBeInstanceOf(ConfigError);
          expect(error.issues.length).toBeGreaterThan(0);
          for (const issue of error.issues) expect(issue.message).toEqual(expect.any(String));
          expect(store.current?.version).toBe(good.version);
        }
        // Go back to the good files so each run starts from the same served snapshot.
        store.apply(loadFromTexts(files));
        expect(store.current?.version).toBe(good.version);
      }),
      { numRuns: 150, seed: 20261125 },
    );
    expect(rejected).toBeGreaterThan(25);
  }, 120_000); // 300 loads of examples/: about 30 s on a loaded 2-core machine

  it('arbitrary YAML values and arbitrary text are rejected or ignored, never thrown', () => {
    const store = new SnapshotStore(createLogger('silent'));
    fc.assert(
      fc.property(fc.oneof(fc.jsonValue().map((v) => stringify(v)), fc.string({ maxLength: 200 }), fc.jsonValue().map((v) => stringify({ apiVersion: 'sluice.dev/v1alpha1', kind: 'TrafficPolicy', metadata: { name: 'a' }, spec: v }))), (text) => {
        const error = store.apply(loadFromTexts([['random.yaml', text]]));
        if (error) expect(error).toBeInstanceOf(ConfigError);
      }),
      { numRuns: 300, seed: 7 },
    );
  });

  it('an alias bomb fails fast instead of hanging', () => {
    const bomb = ['a: &a ["x","x","x","x","x","x","x","x","x"]'];
    for (let i = 0; i < 9; i++) bomb.push(`${String.fromCharCode(98 + i)}: &${String.fromCharCode(98 + i)} [*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)},*${String.fromCharCode(97 + i)}]`);
    const started = performance.now();
    const load = loadFromTexts([['bomb.yaml', bomb.join('\n')]]);
    expect(performance.now() - started).toBeLessThan(1000);
    expect(load.issues[0]?.message).toMatch(/alias/i);
  });
});
