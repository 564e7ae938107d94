/**
 * `sluice validate` and `sluice translate` warn when a proxy kind cannot take
 * a feature of a valid configuration — before any proxy NACKs it.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { usesAngleNamedGroup } from '../../control-plane/translate/client-features.js';
import { ordersService, tempConfig } from '../support/temp-config.js';
import { sluiceInProcess as sluice } from './sluice-cli.js';

const policy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
  routes:
    - name: testers
      match: { userId: { header: x-user-id, regex: '(?<id>u-[0-9]+)' } }
      to: [{ version: v2, weight: 100 }]
    - name: pilots
      match: { userId: { jsonBody: /user/id, prefix: pilot- } }
      to: [{ version: v2, weight: 100 }]
    - name: rest
      to: [{ version: v1, weight: 100 }]
  retries: { attempts: 2, retryOn: [5xx, unavailable] }
  outlierDetection: { consecutive5xx: 5 }
`;

let config: Awaited<ReturnType<typeof tempConfig>>;
beforeAll(async () => {
  config = await tempConfig({ 'mesh.yaml': ordersService, 'policy.yaml': policy });
});
afterAll(async () => {
  await config?.cleanup();
});

describe('client feature warnings', () => {
  it('validate: the configuration is valid, and every feature a proxy kind cannot take is named with its field', async () => {
    const result = await sluice(['validate', config.dir]);
    expect(result.code).toBe(0);
    expect(result.stdout).toContain('valid');
    const warnings = result.stderr.split('\n').filter((l) => l.startsWith('warning: TrafficPolicy shop/orders'));
    expect(warnings).toEqual([
      expect.stringMatching(/spec\.routes\[0\]\.match\.userId\.regex: proxyless proxies: regex "\(\?<id>u-\[0-9\]\+\)" uses a \(\?<name>…\) group.*write \(\?P<name>…\) instead$/),
      expect.stringMatching(/spec\.routes\[1\]\.match\.userId\.jsonBody: proxyless proxies: gRPC clients cannot route on the request body/),
      expect.stringMatching(/spec\.retries\.retryOn: proxyless proxies: .*: 5xx apply to Envoy sidecars only$/),
      expect.stringMatching(/spec\.outlierDetection\.consecutive5xx: proxyless proxies: /),
    ]);
  });

  it('translate: a proxyless client is warned about the regex its RE2 may reject; a sidecar is not', async () => {
    const proxyless = await sluice(['translate', '-c', config.dir, '-p', 'checkout', '-m', 'namespace=shop', '-m', 'mode=proxyless', '-t', 'routes']);
    expect(proxyless.code).toBe(0);
    expect(proxyless.stderr).toMatch(/warning: TrafficPolicy shop\/orders: spec\.routes\[0\]\.match\.userId\.regex: proxyless proxies: .*NACK the whole route table/);
    const sidecar = await sluice(['translate', '-c', config.dir, '-p', 'orders-v1-0.shop', '-m', 'labels.app=orders', '-m', 'labels.version=v1', '-t', 'routes']);
    expect(sidecar.code).toBe(0);
    expect(sidecar.stderr).not.toContain('(?<name>');
  });

  it('finds (?<name> groups only where RE2 would read one', () => {
    expect(usesAngleNamedGroup('(?<id>u-1)')).toBe(true);
    expect(usesAngleNamedGroup('a|(?<x>b)')).toBe(true);
    expect(usesAngleNamedGroup('(?P<id>u-1)')).toBe(false);
    expect(usesAngleNamedGroup('\\(?<id>')).toBe(false); // an escaped parenthesis
    expect(usesAngleNamedGroup('[(?<]x')).toBe(false); // inside a class
    expect(usesAngleNamedGroup('[]](?<n>x)')).toBe(true); // a leading ] is a literal in the class
    expect(usesAngleNamedGroup('(?<=a)b')).toBe(false); // look-behind (RE2 rejects it anyway, with its own error)
  });
});
