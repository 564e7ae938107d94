/**
 * Golden tests: test/golden/inject/<case>/in.yaml → out.json.
 * Regenerate with `npm run golden:update` and review the diff.
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { INJECT_GOLDEN_DIR, injectCases, renderInjectCase, serialise } from '../golden/update-inject.js';
import { assertValidBootstrap } from './helpers.js';

const cases = await injectCases();

describe('injection golden files', () => {
  it('covers the rules and the workload kinds', () => {
    expect(cases).toEqual(expect.arrayContaining([
      'deployment-pod', 'named-pod-annotations', 'opt-out', 'opt-in-unlabelled-namespace', 'host-network', 'already-injected', 'bad-annotation', 'native-sidecar', 'workloads-multi-doc',
    ]));
  });

  it.each(cases)('%s matches out.json', async (name) => {
    const { output } = await renderInjectCase(name);
    const expected = await readFile(path.join(INJECT_GOLDEN_DIR, name, 'out.json'), 'utf8');
    expect(serialise(output)).toBe(expected);
  });

  it.each(cases)('%s: every bootstrap encodes as an Envoy Bootstrap and passes its validate rules', async (name) => {
    const { bootstraps } = await renderInjectCase(name);
    for (const b of bootstraps) assertValidBootstrap(b, `${name}`);
  });
});
