import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { allArtifacts } from '../../control-plane/api/artifacts.js';

describe('policy API artifacts', () => {
  it('generated types, schema module and CRDs match proto/sluice/v1alpha1/policy-api.yaml (run `npm run generate` if this fails)', async () => {
    const artifacts = await allArtifacts(process.cwd());
    // Types and schema module, and one CRD per kind (TrafficPolicy, Canary, WorkloadEntry, TelemetryConfig, PeerAuthentication, AuthorizationPolicy).
    expect(artifacts.size).toBe(7);
    for (const [file, expected] of artifacts) {
      const actual = await readFile(file, 'utf8').catch(() => '<missing>');
      expect(actual, `${file} is out of date`).toBe(expected);
    }
  });

  it('CRDs are structural: no additionalProperties:false, no formats Kubernetes does not know, oneOf only of required', async () => {
    const artifacts = await allArtifacts(process.cwd());
    for (const [file, text] of artifacts) {
      if (!file.endsWith('.yaml')) continue;
      expect(text).not.toMatch(/additionalProperties: false/);
      expect(text).not.toMatch(/format: (re2|json-pointer)/);
      expect(text).not.toMatch(/x-sluice/);
      expect(text).toMatch(/subresources:\n\s+status: \{\}/);
    }
    const policyCrd = artifacts.get('examples/crds/trafficpolicies.sluice.dev.yaml')!;
    expect(policyCrd).toMatch(/oneOf:\n\s+- required:\n\s+- header\n\s+- required:\n\s+- jsonBody/);
  });
});
