import { readFile } from 'node:fs/promises';
import { describe, expect, it } from 'vitest';
import { parseAllDocuments } from 'yaml';
import { ConfigError } from '../../control-plane/core/errors.js';
import { DEFAULT_INJECTION_CONFIG, loadInjectionConfig, parseInjectionConfig } from '../../webhook/config.js';
import { ROUTES } from '../../webhook/server.js';

const EXAMPLES = new URL('../../examples/webhook/', import.meta.url);

describe('examples/webhook', () => {
  it('MutatingWebhookConfiguration: Fail, no side effects, v1 reviews, paths this server answers', async () => {
    const [doc] = parseAllDocuments(await readFile(new URL('mutating-webhook-configuration.yaml', EXAMPLES), 'utf8'));
    const mwc = doc!.toJS() as { kind: string; webhooks: any[] };
    expect(mwc.kind).toBe('MutatingWebhookConfiguration');
    expect(mwc.webhooks).toHaveLength(2);
    for (const w of mwc.webhooks) {
      // Documented choice: a pod in a meshed namespace never starts without its proxy unnoticed.
      expect(w.failurePolicy).toBe('Fail');
      // dryRun requests only reach webhooks that declare no side effects.
      expect(w.sideEffects).toBe('None');
      expect(w.admissionReviewVersions).toEqual(['v1']);
      expect(w.rules).toEqual([expect.objectContaining({ operations: ['CREATE'], resources: ['pods'] })]);
      expect(Object.keys(ROUTES)).toContain(w.clientConfig.service.path);
      // The webhook's own namespace and the system ones must always be able to start pods.
      const exclusion = w.namespaceSelector.matchExpressions.find((e: { key: string }) => e.key === 'kubernetes.io/metadata.name');
      expect(exclusion).toMatchObject({ operator: 'NotIn' });
      expect(exclusion.values).toEqual(expect.arrayContaining(['kube-system', 'sluice-system']));
    }
    const [namespaced, optIn] = mwc.webhooks;
    expect(ROUTES[namespaced.clientConfig.service.path]).toBe('enabled');
    expect(namespaced.namespaceSelector.matchExpressions).toContainEqual({ key: 'sluice.dev/inject', operator: 'In', values: ['enabled'] });
    expect(ROUTES[optIn.clientConfig.service.path]).toBe('opt-in');
    expect(optIn.namespaceSelector.matchExpressions).toContainEqual({ key: 'sluice.dev/inject', operator: 'DoesNotExist' });
    expect(optIn.objectSelector.matchLabels).toEqual({ 'sluice.dev/inject': 'true' });
  });

  it('injection-config.yaml (a ConfigMap) loads with --config and differs from the defaults only where it says so', async () => {
    const config = await loadInjectionConfig(new URL('injection-config.yaml', EXAMPLES).pathname);
    expect(config).toEqual({ ...DEFAULT_INJECTION_CONFIG, traffic: { ...DEFAULT_INJECTION_CONFIG.traffic, excludeOutboundIPRanges: ['169.254.169.254/32'] } });
  });

  it('reports errors inside a ConfigMap at their line in the manifest', () => {
    const text = 'apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  injection-config.yaml: |\n    proxy:\n      logLevel: loud\n';
    try {
      parseInjectionConfig(text, 'cm.yaml');
      expect.unreachable();
    } catch (error) {
      expect(error).toBeInstanceOf(ConfigError);
      expect((error as ConfigError).issues[0]).toMatchObject({ field: 'proxy.logLevel', location: { file: 'cm.yaml', line: 7, column: 17 } });
    }
  });
});
