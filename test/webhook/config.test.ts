import { mkdtemp, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../control-plane/core/errors.js';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig, parseInjectionConfig } from '../../webhook/config.js';

function issuesOf(text: string) {
  try {
    parseInjectionConfig(text, 'injection.yaml');
  } catch (error) {
    expect(error).toBeInstanceOf(ConfigError);
    return (error as ConfigError).issues;
  }
  throw new Error('expected the config to be rejected');
}

describe('injection config (--config)', () => {
  it('is all defaults when empty', () => {
    expect(parseInjectionConfig('')).toEqual(DEFAULT_INJECTION_CONFIG);
  });

  it('reads every field, lists or comma strings alike', async () => {
    const dir = await mkdtemp(path.join(os.tmpdir(), 'sluice-inject-'));
    const file = path.join(dir, 'injection.yaml');
    await writeFile(file, [
      'controlPlaneAddress: 10.0.0.5:15010',
      'proxy:',
      '  image: registry.carrier.internal/envoy:v1.31.2',
      '  imagePullPolicy: Always',
      '  logLevel: warn',
      '  concurrency: 1',
      '  resources: {requests: {cpu: 50m, memory: 64Mi}, limits: {memory: 256Mi}}',
      'init:',
      '  image: registry.carrier.internal/proxy-init:1',
      'traffic:',
      '  excludeOutboundPorts: [5432, 6379]',
      '  excludeOutboundIPRanges: "169.254.169.254/32"',
      '  includeInboundPorts: "*"',
      'excludeNamespaces: [kube-system]',
      '',
    ].join('\n'));
    const c = await loadInjectionConfig(file);
    expect(c.controlPlaneAddress).toBe('10.0.0.5:15010');
    expect(c.proxy).toMatchObject({ image: 'registry.carrier.internal/envoy:v1.31.2', imagePullPolicy: 'Always', logLevel: 'warn', concurrency: 1 });
    expect(c.proxy.resources).toEqual({ requests: { cpu: '50m', memory: '64Mi' }, limits: { cpu: '2', memory: '256Mi' } });
    expect(c.init.image).toBe('registry.carrier.internal/proxy-init:1');
    expect(c.traffic.excludeOutboundPorts).toEqual([5432, 6379]);
    expect(c.traffic.excludeOutboundIPRanges).toEqual(['169.254.169.254/32']);
    expect(c.excludeNamespaces).toEqual(['kube-system']);
  });

  it('rejects typos and bad values with file, line, column and field', () => {
    const issues = issuesOf('proxy:\n  imag: envoy\n  logLevel: loud\ncontrolPlaneAddress: sluice\n');
    expect(issues.map((i) => [i.field, i.location?.line, i.location?.column])).toEqual([
      ['proxy.imag', 2, 3],
      ['controlPlaneAddress', 4, 22],
      ['proxy.logLevel', 3, 13],
    ]);
    expect(issues.find((i) => i.field === 'proxy.logLevel')?.message).toContain('"loud" is not an Envoy log level');
  });

  it('reports YAML syntax errors with their position', () => {
    const [issue] = issuesOf('proxy:\n  image: [unclosed\n');
    expect(issue?.code).toBe('yaml-syntax');
    expect(issue?.location?.file).toBe('injection.yaml');
  });

  it('names a missing file', async () => {
    await expect(loadInjectionConfig('/nonexistent/injection.yaml')).rejects.toThrow(/cannot read injection config/);
  });
});
