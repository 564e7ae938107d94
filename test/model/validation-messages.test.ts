/**
 * Every kind of configuration error, with the exact line a user sees from
 * `sluice validate` (file:line:column: object: field: message).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { formatConfigIssue, type ConfigIssue } from '../../control-plane/core/errors.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import { ordersPolicy, ordersPolicyWith, ordersService, tempConfig } from '../support/temp-config.js';

let cleanup: (() => Promise<void>) | undefined;
afterEach(async () => {
  await cleanup?.();
  cleanup = undefined;
});

async function problems(files: Record<string, string>): Promise<{ lines: string[]; issues: readonly ConfigIssue[] }> {
  const config = await tempConfig(files);
  cleanup = config.cleanup;
  const result = evaluateLoad(await loadDirectory(config.dir));
  if (result.ok) return { lines: [], issues: [] };
  return { lines: result.issues.map((i) => formatConfigIssue(i).replaceAll(`${config.dir}/`, '')), issues: result.issues };
}

describe('configuration errors a user sees', () => {
  it('accepts the valid base mesh', async () => {
    expect((await problems({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() })).lines).toEqual([]);
  });

  it('yaml-syntax: names file, line and column', async () => {
    const { lines, issues } = await problems({ 'bad.yaml': 'apiVersion: v1\nkind: Service\nmetadata:\n  name: [unclosed\n' });
    expect(issues[0]?.code).toBe('yaml-syntax');
    expect(lines[0]).toMatch(/^bad\.yaml:\d+:\d+: /);
  });

  it('yaml-syntax: duplicate keys', async () => {
    const { lines } = await problems({ 'dup.yaml': 'apiVersion: v1\nkind: Namespace\nkind: Namespace\nmetadata: { name: a }\n' });
    expect(lines).toEqual(['dup.yaml:3:1: Map keys must be unique']);
  });

  it('not-an-object', async () => {
    expect((await problems({ 'list.yaml': '- a\n- b\n' })).lines).toEqual([
      'list.yaml:1:1: expected a Kubernetes object (a map with apiVersion, kind and metadata), got a list',
    ]);
  });

  it('missing-identity: kind and metadata', async () => {
    expect((await problems({ 'x.yaml': 'apiVersion: v1\n' })).lines).toEqual([
      'x.yaml:1:1: kind: is required',
      'x.yaml:1:1: metadata: is required and must be a map with a name',
    ]);
  });

  it('missing-identity: a name that is not a DNS name', async () => {
    expect((await problems({ 'x.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: Orders_1 }\n' })).lines).toEqual([
      'x.yaml:3:13: Service default/Orders_1: metadata.name: must be a DNS subdomain name (lowercase letters, digits, \'-\' and \'.\'), got string "Orders_1"',
    ]);
  });

  it('unknown-api-version', async () => {
    expect((await problems({ 'x.yaml': 'apiVersion: sluice.dev/v1\nkind: TrafficPolicy\nmetadata: { name: a, namespace: shop }\nspec: {}\n' })).lines).toEqual([
      'x.yaml:1:1: TrafficPolicy shop/a: apiVersion: "sluice.dev/v1" is not served; use sluice.dev/v1alpha1',
    ]);
    expect((await problems({ 'x.yaml': 'apiVersion: sluice.dev/v1alpha1\nkind: Rollout\nmetadata: { name: a, namespace: shop }\nspec: {}\n' })).lines).toEqual([
      'x.yaml:2:1: Rollout shop/a: kind: unknown kind "Rollout" in sluice.dev/v1alpha1; known kinds: TrafficPolicy, Canary, WorkloadEntry, TelemetryConfig, PeerAuthentication, AuthorizationPolicy',
    ]);
  });

  it('schema: unknown field with a suggestion, wrong type, out of range, missing required', async () => {
    const { lines } = await problems({
      'svc.yaml': ordersService,
      'tp.yaml': ordersPolicyWith(`  routes:
    - name: split
      to:
        - { version: v1, weigth: 90 }
        - { version: v2, weight: 101 }
  timeout: 3
`),
    });
    expect(lines).toEqual([
      'tp.yaml:12:11: TrafficPolicy shop/orders: spec.routes[0].to[0].weight: is required',
      'tp.yaml:12:26: TrafficPolicy shop/orders: spec.routes[0].to[0].weigth: unknown field (did you mean "weight"?)',
      'tp.yaml:13:26: TrafficPolicy shop/orders: spec.routes[0].to[1].weight: must be at most 100, got 101',
      'tp.yaml:14:3: TrafficPolicy shop/orders: spec.timeout: must be a string, got number 3',
    ]);
  });

  it('schema: exactly one of header/jsonBody and of values/prefix/regex', async () => {
    const { lines } = await problems({
      'svc.yaml': ordersService,
      'tp.yaml': ordersPolicyWith(`  routes:
    - name: ids
      match:
        userId: { header: x-user-id, jsonBody: /user/id, values: [a], prefix: b }
      to: [{ version: v2, weight: 100 }]
`),
    });
    expect(lines).toEqual([
      'tp.yaml:12:38: TrafficPolicy shop/orders: spec.routes[0].match.userId: only one of header, jsonBody may be set, got header and jsonBody',
      'tp.yaml:12:71: TrafficPolicy shop/orders: spec.routes[0].match.userId: only one of values, prefix, regex may be set, got values and prefix',
    ]);
  });

  it('bad-duration, bad-regex, bad-json-pointer', async () => {
    const { lines, issues } = await problems({
      'svc.yaml': ordersService,
      'tp.yaml': ordersPolicyWith(`  routes:
    - name: ids
      match:
        userId: { jsonBody: user.id, regex: "(?<=a)b" }
      to: [{ version: v2, weight: 100 }]
  timeout: 3 seconds
`),
    });
    expect(issues.map((i) => i.code)).toEqual(['bad-json-pointer', 'bad-regex', 'bad-duration']);
    expect(lines).toEqual([
      'tp.yaml:12:19: TrafficPolicy shop/orders: spec.routes[0].match.userId.jsonBody: must be a JSON Pointer such as /user/id, got string "user.id"',
      'tp.yaml:12:38: TrafficPolicy shop/orders: spec.routes[0].match.userId.regex: is not a valid RE2 regular expression (the dialect Envoy uses): invalid named capture: `(?<=a)b`',
      'tp.yaml:14:3: TrafficPolicy shop/orders: spec.timeout: must be a duration such as 250ms, 3s, 1m30s or 1h, got string "3 seconds"',
    ]);
  });

  it('duplicate-object names both places', async () => {
    const ns = 'apiVersion: v1\nkind: Namespace\nmetadata: { name: shop }\n';
    expect((await problems({ 'a.yaml': ns, 'b.yaml': ns })).lines).toEqual([
      'b.yaml:3:13: Namespace default/shop: metadata.name: Namespace default/shop is defined twice (first in ' + 'a.yaml:3:13)',
    ].map((line) => line.replace('(first in a.yaml', '(first in ' + 'a.yaml')));
  });

  it('unknown-service', async () => {
    expect((await problems({ 'tp.yaml': ordersPolicy() })).lines).toEqual([
      'tp.yaml:5:3: TrafficPolicy shop/orders: spec.service: Service shop/orders does not exist',
    ]);
  });

  it('unknown-version and weights-sum', async () => {
    const { lines } = await problems({
      'svc.yaml': ordersService,
      'tp.yaml': ordersPolicyWith(`  routes:
    - name: split
      to:
        - { version: v1, weight: 80 }
        - { version: v3, weight: 10 }
`),
    });
    expect(lines).toEqual([
      'tp.yaml:13:13: TrafficPolicy shop/orders: spec.routes[0].to[1].version: version "v3" is not in spec.versions (v1, v2)',
      'tp.yaml:11:7: TrafficPolicy shop/orders: spec.routes[0].to: weights must sum to 100, got 90',
    ]);
  });

  it('duplicate-route', async () => {
    const { lines } = await problems({
      'svc.yaml': ordersService,
      'tp.yaml': ordersPolicyWith(`  routes:
    - { name: a, to: [{ version: v1, weight: 100 }] }
    - { name: a, to: [{ version: v2, weight: 100 }] }
`),
    });
    expect(lines).toEqual(['tp.yaml:11:9: TrafficPolicy shop/orders: spec.routes[1].name: route name "a" is already used by spec.routes[0]']);
  });

  it('duplicate-policy', async () => {
    const second = ordersPolicy().replace('name: orders, namespace', 'name: orders-too, namespace');
    expect((await problems({ 'svc.yaml': ordersService, 'a.yaml': ordersPolicy(), 'b.yaml': second })).lines).toEqual([
      'b.yaml:5:3: TrafficPolicy shop/orders-too: spec.service: Service shop/orders already has TrafficPolicy shop/orders; a service takes one policy',
    ]);
  });

  const canary = (service: string, stable: string, canaryVersion: string, name = 'orders') => `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: ${name}, namespace: shop }
spec:
  service: ${service}
  stable: ${stable}
  canary: ${canaryVersion}
  steps: [10, 50]
  metrics: [{ name: success-rate, min: 99 }]
`;

  it('canary-without-policy, canary-version, duplicate-canary', async () => {
    expect((await problems({ 'svc.yaml': ordersService, 'c.yaml': canary('orders', 'v1', 'v2') })).lines).toEqual([
      'c.yaml:5:3: Canary shop/orders: spec.service: Service shop/orders has no TrafficPolicy; a canary shifts traffic between the versions a TrafficPolicy defines',
    ]);
    expect((await problems({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy(), 'c.yaml': canary('orders', 'v1', 'v9') })).lines).toEqual([
      'c.yaml:7:3: Canary shop/orders: spec.canary: version "v9" is not in TrafficPolicy shop/orders (versions: v1, v2)',
    ]);
    expect(
      (await problems({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy(), 'c.yaml': canary('orders', 'v1', 'v2'), 'd.yaml': canary('orders', 'v1', 'v2', 'orders-b') })).lines,
    ).toEqual(['d.yaml:5:3: Canary shop/orders-b: spec.service: Service shop/orders already has Canary shop/orders']);
  });

  it('canary metric bounds and step order', async () => {
    const text = canary('orders', 'v1', 'v2').replace('steps: [10, 50]', 'steps: [50, 10]').replace('[{ name: success-rate, min: 99 }]', '[{ name: latency-p99 }, { name: success-rate, min: 99, source: prometheus }]');
    expect((await problems({ 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy(), 'c.yaml': text })).lines).toEqual([
      'c.yaml:8:15: Canary shop/orders: spec.steps[1]: steps must increase, got 10 after 50',
      'c.yaml:9:13: Canary shop/orders: spec.metrics[0].maxMs: is required for latency-p99 (the highest acceptable p99 in milliseconds)',
      'c.yaml:9:36: Canary shop/orders: spec.metrics[1].query: is required for source prometheus (the PromQL to evaluate)',
    ]);
  });

  it('collects every problem of every file, not just the first', async () => {
    const { lines } = await problems({
      'svc.yaml': ordersService,
      'a.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: a, namespace: shop }\nspec: { ports: [{ port: 70000 }] }\n',
      'b.yaml': 'apiVersion: v1\nkind: Service\nmetadata: { name: b, namespace: shop }\nspec: { ports: [{ port: 0, protocol: HTTP }] }\n',
    });
    expect(lines).toEqual([
      'a.yaml:4:19: Service shop/a: spec.ports[0].port: must be at most 65535, got 70000',
      'b.yaml:4:19: Service shop/b: spec.ports[0].port: must be at least 1, got 0',
      'b.yaml:4:28: Service shop/b: spec.ports[0].protocol: must be one of TCP, UDP, SCTP; got string "HTTP"',
    ]);
  });

  it('ignores kinds Sluice does not read, such as Deployments', async () => {
    const deployment = 'apiVersion: apps/v1\nkind: Deployment\nmetadata: { name: orders, namespace: shop }\nspec: { replicas: 2 }\n';
    const config = await tempConfig({ 'svc.yaml': ordersService, 'd.yaml': deployment });
    cleanup = config.cleanup;
    const result = evaluateLoad(await loadDirectory(config.dir));
    expect(result.ok && result.snapshot.ignored).toEqual({ Deployment: 1 });
  });
});
