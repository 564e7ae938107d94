import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATED_DIR, generateEnvoyTypes } from '../../control-plane/envoy/generate.js';

async function filesUnder(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true, withFileTypes: true }))
    .filter((entry) => entry.isFile() && entry.name !== 'README.md')
    .map((entry) => path.relative(dir, path.join(entry.parentPath, entry.name)))
    .sort();
}

describe('control-plane/envoy/generated', () => {
  let fresh: string | undefined;
  afterAll(async () => {
    if (fresh) await rm(fresh, { recursive: true, force: true });
  });

  // buf and protoc-gen-es come from npm, so this runs wherever `npm ci` did.
  it('is what `npm run generate:envoy` produces from the installed protos', { timeout: 180_000 }, async () => {
    fresh = await mkdtemp(path.join(os.tmpdir(), 'sluice-envoy-generated-'));
    await generateEnvoyTypes(fresh);
    const committed = await filesUnder(GENERATED_DIR);
    expect(await filesUnder(fresh)).toEqual(committed);
    for (const file of committed) {
      const [want, got] = await Promise.all([readFile(path.join(GENERATED_DIR, file), 'utf8'), readFile(path.join(fresh, file), 'utf8')]);
      expect(got, `${file} differs from a fresh generation: run npm run generate:envoy`).toBe(want);
    }
  });
});
