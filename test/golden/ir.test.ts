import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { existingIrOutputs, irCases, irRoot, renderIrCase } from './ir-cases.js';

const cases = await irCases();

describe('translate layer goldens: IR → Envoy (test/golden/xds-ir; regenerate with `npm run golden:update`)', () => {
  it('has a case per feature, and no stale output', async () => {
    expect(cases.length).toBeGreaterThanOrEqual(5);
    const rendered = (await Promise.all(cases.map(renderIrCase))).flatMap((files) => [...files.keys()]);
    expect(await existingIrOutputs()).toEqual(rendered.sort());
  });
  for (const name of cases) {
    it(name, async () => {
      for (const [file, content] of await renderIrCase(name)) {
        expect(content, `xds-ir/out/${file}`).toBe(await readFile(path.join(irRoot, 'out', file), 'utf8'));
      }
    });
  }
});
