import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { existingOutputs, failureCases, goldenRoot, renderFailureCase, renderTranslationCase, translationCases } from './translate-cases.js';

const cases = await translationCases();
const failures = await failureCases();

describe('translation golden files (regenerate with `npm run golden:update`, review the diff)', () => {
  it('has cases', () => {
    expect(cases.length).toBeGreaterThanOrEqual(8);
  });
  for (const name of cases) {
    it(name, async () => {
      const rendered = await renderTranslationCase(name);
      expect(await existingOutputs(name)).toEqual([...rendered.keys()].sort());
      for (const [file, content] of rendered) {
        expect(content, `${name}/out/${file}`).toBe(await readFile(path.join(goldenRoot, name, 'out', file), 'utf8'));
      }
    });
  }
});

describe('invalid configuration golden errors', () => {
  it('has cases', () => {
    expect(failures.length).toBeGreaterThanOrEqual(3);
  });
  for (const name of failures) {
    it(name, async () => {
      const rendered = await renderFailureCase(name);
      expect(rendered).not.toBe('no errors\n');
      expect(rendered).toBe(await readFile(path.join(goldenRoot, 'failures', name, 'expected-errors.txt'), 'utf8'));
    });
  }
});
