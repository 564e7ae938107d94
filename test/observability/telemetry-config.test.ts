/**
 * TelemetryConfig end to end without Envoy: manifests → per-namespace
 * settings → the HCM's access log and tracer, checked against Envoy's protos
 * and validate rules (the same check every served resource gets).
 */
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { checkValidateRules } from '../../control-plane/envoy/validate-rules.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { telemetryOf } from '../../control-plane/model/telemetry.js';
import { modelFromDirectory, proxyFromNode, resourcesForProxy } from '../../control-plane/pipeline/pipeline.js';
import { loadFromTexts } from '../../control-plane/sources/yaml-directory.js';
import { accessLogs, hcmTelemetry } from '../../control-plane/translate/access-log.js';
import { scopeOf } from '../../control-plane/translate/proxy-scope.js';
import type { EnvoyResource } from '../../control-plane/translate/resources.js';
import { Translator } from '../../control-plane/translate/translate.js';
import { hcmTracing } from '../../control-plane/translate/tracing.js';

const repoRoot = path.resolve(import.meta.dirname, '../..');

type Json = Record<string, unknown>;
/** Every HttpConnectionManager in a sidecar's listeners. */
function connectionManagers(listeners: readonly EnvoyResource[]): Json[] {
  const found: Json[] = [];
  for (const listener of listeners) {
    for (const chain of ((listener.body as Json).filter_chains ?? []) as Json[]) {
      for (const filter of (chain.filters ?? []) as Json[]) {
        const config = filter.typed_config as Json;
        if (String(config['@type']).endsWith('HttpConnectionManager')) found.push(config);
      }
    }
  }
  return found;
}

async function snapshotOf(dir: string): Promise<Snapshot> {
  const { result } = await modelFromDirectory(dir);
  if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
  return result.snapshot;
}

describe('TelemetryConfig', () => {
  it('examples/: the carrier sidecar logs every request as JSON and traces to the SkyWalking OAP outside the cluster', async () => {
    const snapshot = await snapshotOf(path.join(repoRoot, 'examples'));
    const orders = resourcesForProxy(snapshot, proxyFromNode('orders-v1-0.shop', { namespace: 'shop', labels: { app: 'orders', version: 'v1' }, workload: 'orders-v1' }));
    expect(orders.issues.filter((i) => i.severity === 'error')).toEqual([]);
    const managers = connectionManagers(orders.listeners);
    expect(managers.length).toBeGreaterThanOrEqual(2); // outbound ports and the inbound one
    for (const hcm of managers) {
      const [log] = hcm.access_log as Json[];
      expect(log!.name).toBe('envoy.access_loggers.stdout');
      expect(log!.filter).toBeUndefined();
      const format = ((log!.typed_config as Json).log_format as Json).json_format as Record<string, string>;
      expect(format.upstream_version).toBe('%CLUSTER_METADATA(sluice:version)%');
      expect(format.trace_id).toBe('%REQ(sw8)%');
      expect(((hcm.tracing as Json).provider as Json).name).toBe('envoy.tracers.skywalking');
    }
    const oap = orders.clusters.find((c) => c.name.startsWith('tracing|skywalking|'));
    expect(oap?.name).toBe('tracing|skywalking|skywalking-oap.monitoring.carrier.example:11800');
    // The version the log names comes from the cluster's metadata.
    const v2 = orders.clusters.find((c) => c.name === 'outbound|8080|v2|orders.shop.svc.cluster.local')!;
    expect((v2.body as Json).metadata).toEqual({ filter_metadata: { sluice: { service: 'orders.shop.svc.cluster.local', version: 'v2' } } });

    // gov-portal overrides the filter only: errors, still traced.
    const portal = resourcesForProxy(snapshot, proxyFromNode('portal-web-0.gov-portal', { namespace: 'gov-portal', labels: { app: 'portal-web' } }));
    for (const hcm of connectionManagers(portal.listeners)) {
      const [log] = hcm.access_log as Json[];
      expect(log!.filter).toHaveProperty('or_filter');
      expect(((log!.typed_config as Json).log_format as Json).json_format).toHaveProperty('user_id_body', '%DYNAMIC_METADATA(sluice.user_id:/user/id)%');
      expect(hcm.tracing).toBeDefined();
    }
  });

  it('a namespace inherits the mesh-wide settings field by field, and can switch each off', () => {
    const load = loadFromTexts([
      ['telemetry.yaml', `
apiVersion: sluice.dev/v1alpha1
kind: TelemetryConfig
metadata: { name: mesh, namespace: sluice-system }
spec:
  accessLog: { userIdHeader: x-customer }
  tracing: { provider: zipkin, address: 10.9.0.1:9411 }
---
apiVersion: sluice.dev/v1alpha1
kind: TelemetryConfig
metadata: { name: t, namespace: shop }
spec:
  accessLog: { filter: errors }
  tracing: { samplingPercent: 50 }
---
apiVersion: sluice.dev/v1alpha1
kind: TelemetryConfig
metadata: { name: t, namespace: batch }
spec:
  accessLog: { enabled: false }
  tracing: { enabled: false }
`],
    ]);
    const result = evaluateLoad(load);
    if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
    const { telemetry } = result.snapshot;
    expect(telemetryOf(telemetry, 'shop')).toEqual({
      accessLog: { enabled: true, filter: 'errors', userIdHeader: 'x-customer' },
      tracing: { provider: 'zipkin', host: '10.9.0.1', port: 9411, samplingPercent: 50 },
    });
    expect(telemetryOf(telemetry, 'batch')).toEqual({ accessLog: { enabled: false, filter: 'all', userIdHeader: 'x-customer' } });
    expect(telemetryOf(telemetry, 'elsewhere').tracing).toEqual({ provider: 'zipkin', host: '10.9.0.1', port: 9411, samplingPercent: 1 });
    // No TelemetryConfig at all: logs on, no tracer.
    expect(telemetryOf(undefined, 'shop')).toEqual({ accessLog: { enabled: true, filter: 'all', userIdHeader: 'x-user-id' } });
  });

  it('refuses a user-ID header or pointer Envoy\'s format operators cannot name, with file:line', () => {
    const result = evaluateLoad(loadFromTexts([['t.yaml', 'apiVersion: sluice.dev/v1alpha1\nkind: TelemetryConfig\nmetadata: { name: t, namespace: shop }\nspec:\n  accessLog: { userIdHeader: "x-user%id" }\n']]));
    expect(result.ok).toBe(false);
    if (result.ok) return;
    expect(result.issues.map((i) => `${i.location?.line}:${i.field}: ${i.message}`)).toEqual([`5:spec.accessLog.userIdHeader: cannot contain '%' (it would end Envoy's %REQ(...)% operator), got "x-user%id"`]);
  });

  it('the mesh-wide config is the one in the control plane\'s namespace (--mesh-namespace)', () => {
    const load = loadFromTexts([
      ['telemetry.yaml', `
apiVersion: sluice.dev/v1alpha1
kind: TelemetryConfig
metadata: { name: mesh, namespace: mesh-control }
spec:
  accessLog: { filter: errors }
---
apiVersion: sluice.dev/v1alpha1
kind: TelemetryConfig
metadata: { name: mesh, namespace: sluice-system }
spec:
  accessLog: { enabled: false }
`],
    ]);
    const moved = evaluateLoad(load, { meshNamespace: 'mesh-control' });
    if (!moved.ok) throw new Error(moved.issues.map((i) => i.message).join('\n'));
    expect(telemetryOf(moved.snapshot.telemetry, 'shop').accessLog).toMatchObject({ enabled: true, filter: 'errors' });
    // sluice-system is then an ordinary namespace, its config over the mesh-wide one.
    expect(telemetryOf(moved.snapshot.telemetry, 'sluice-system').accessLog).toMatchObject({ enabled: false, filter: 'errors' });
    const byDefault = evaluateLoad(load);
    if (!byDefault.ok) throw new Error(byDefault.issues.map((i) => i.message).join('\n'));
    expect(telemetryOf(byDefault.snapshot.telemetry, 'shop').accessLog).toMatchObject({ enabled: false, filter: 'all' });
  });

  it('one Translator serving several namespaces keeps each namespace\'s access log and tracer apart', async () => {
    const snapshot = await snapshotOf(path.join(repoRoot, 'test/golden/telemetry/in'));
    const translator = new Translator();
    const scope = (namespace: string) => scopeOf(snapshot, proxyFromNode(`api-0.${namespace}`, { namespace, labels: { app: 'api', version: 'v1' } }));
    const shop = translator.translate(snapshot, scope('shop'), { validate: true });
    const quiet = translator.translate(snapshot, scope('quiet'), { validate: true });
    const errors = translator.translate(snapshot, scope('errors'), { validate: true });
    expect(connectionManagers(shop.listeners).every((hcm) => hcm.access_log && hcm.tracing)).toBe(true);
    expect(connectionManagers(quiet.listeners).some((hcm) => hcm.access_log || hcm.tracing)).toBe(false);
    expect(quiet.clusters.some((c) => c.name.startsWith('tracing|'))).toBe(false);
    expect(connectionManagers(errors.listeners).every((hcm) => ((hcm.tracing as Json).provider as Json).name === 'envoy.tracers.zipkin')).toBe(true);
    for (const result of [shop, quiet, errors]) expect(result.issues.filter((i) => i.severity === 'error')).toEqual([]);
  });

  it('Envoy\'s rules reach inside the tracer and access-log Any payloads', () => {
    const tracing = hcmTracing({ provider: 'skywalking', host: 'oap', port: 11800, samplingPercent: 10 });
    const broken = { ...tracing, provider: { ...tracing.provider, typed_config: { '@type': 'type.googleapis.com/envoy.config.trace.v3.SkyWalkingConfig' } } };
    const hcm = (extra: Json) => ({
      stat_prefix: 'x',
      rds: { config_source: { ads: {} }, route_config_name: '80' },
      http_filters: [{ name: 'envoy.filters.http.router', typed_config: { '@type': 'type.googleapis.com/envoy.extensions.filters.http.router.v3.Router' } }],
      ...extra,
    });
    const type = 'envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager';
    const settings = { enabled: true, filter: 'errors', userIdHeader: 'x-user-id' } as const;
    expect(checkValidateRules(type, hcm({ ...hcmTelemetry({ accessLog: settings, tracing: { provider: 'zipkin', host: 'z', port: 9411, samplingPercent: 100 } }, 'gateway') }))).toEqual([]);
    expect(checkValidateRules(type, hcm({ tracing: broken })).map((v) => v.field)).toContain('tracing.provider.typed_config.grpc_service');
    // The errors-only filter's runtime value needs its key (RuntimeUInt32.runtime_key min_len 1).
    const [log] = accessLogs(settings, 'gateway');
    const filter = log!.filter as Json;
    const stripped = JSON.parse(JSON.stringify(filter).replace('"runtime_key":"sluice.access_log.error_status"', '"runtime_key":""'));
    expect(checkValidateRules(type, hcm({ access_log: [{ ...log, filter: stripped }] })).map((v) => v.rule)).toContain('string.min_len');
  });

  it('docs/observability.md documents every access-log field', async () => {
    const doc = await readFile(path.join(repoRoot, 'docs/observability.md'), 'utf8');
    const [log] = accessLogs({ enabled: true, filter: 'all', userIdHeader: 'x-user-id', userIdJsonBody: '/user/id' }, 'outbound', 'skywalking');
    const fields = Object.keys(((log!.typed_config as Json).log_format as Json).json_format as Json);
    expect(fields.length).toBeGreaterThan(20);
    for (const field of fields) expect(doc, `docs/observability.md has no row for ${field}`).toMatch(new RegExp(`^\\| \`${field}\` \\|`, 'm'));
  });
});
