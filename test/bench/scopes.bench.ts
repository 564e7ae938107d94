/**
 * Control-plane CPU of one change across many distinct scopes, without
 * sockets: S sidecar scopes (each fronting its own service) over K
 * namespaces subscribe to the cache; one weight edit and one endpoint added;
 * time `cache.update` (translate, check against Envoy's rules, encode) plus
 * building every scope's state-of-the-world responses — the work the server
 * does per change before writing to streams. Also counts distinct encoded
 * bytes, to show how much is shared across scopes.
 *
 * `npm run bench -- scopes`; SLUICE_SCOPES=100x5,500x20 picks sizes (services = scopes × namespaces).
 */
import { createLogger } from '../../control-plane/log/logger.js';
import { resourceKinds } from '../../control-plane/translate/resources.js';
import { proxyIdentityFromNode, scopeOf } from '../../control-plane/translate/proxy-scope.js';
import { XdsCache } from '../../control-plane/xds/cache.js';
import { meshFiles, policyText, serviceName, snapshotOf } from '../support/generated-mesh.js';

function measure(scopes: number, namespaces: number): string {
  const files = meshFiles({ services: scopes, versions: 2, endpointsPerVersion: 3, namespaces });
  const snapshot = snapshotOf(files);
  const cache = new XdsCache({ logger: createLogger('warn'), validate: true });
  const scopeList = Array.from({ length: scopes }, (_, i) => {
    const ns = `ns-${i % namespaces}`;
    return scopeOf(snapshot, proxyIdentityFromNode(`${serviceName(i)}-v1-0.${ns}`, { labels: { app: serviceName(i), version: 'v1' } }));
  });
  for (const scope of scopeList) cache.subscribe(scope, () => {});
  const respond = () => {
    let bytes = 0;
    const distinct = new Set<Buffer>();
    for (const scope of scopeList) {
      const view = cache.view(scope)!;
      for (const kind of resourceKinds) {
        const response = cache.sotwResponse(view, kind, 'wildcard', '*');
        if (!distinct.has(response.bytes)) {
          distinct.add(response.bytes);
          bytes += response.bytes.length;
        }
      }
    }
    return { distinctResponses: distinct.size, bytes };
  };
  const time = (fn: () => void) => {
    const cpu = process.cpuUsage();
    fn();
    const used = process.cpuUsage(cpu);
    return (used.user + used.system) / 1000;
  };
  const initial = time(() => cache.update(snapshot));
  const initialResponses = respond();
  const lines = [`S=${scopes} scopes over K=${namespaces} namespaces (${scopes} services × 2 versions × 3 endpoints): first snapshot ${initial.toFixed(0)} ms CPU; ${initialResponses.distinctResponses} distinct SotW responses, ${(initialResponses.bytes / 1024).toFixed(0)} KiB`];
  const weightEdit = snapshotOf(files.map(([name, text]) => (name === 'ns-3/svc-0003-policy.yaml' ? [name, policyText(3, 'ns-3', 2, 37)] : [name, text]) as [string, string]));
  const endpointAdded = snapshotOf(files.map(([name, text]) => (name === 'ns-3/svc-0003.yaml' ? [name, text.replace('endpoints:\n', 'endpoints:\n  - { addresses: [10.99.99.99] }\n')] : [name, text]) as [string, string]));
  for (const [label, next] of [['weight edit', weightEdit], ['endpoint added', endpointAdded]] as const) {
    let responses = { distinctResponses: 0, bytes: 0 };
    const cpu = time(() => {
      cache.update(next);
      responses = respond();
    });
    lines.push(`  ${label}: ${cpu.toFixed(0)} ms CPU (target ≤ 300 ms per change at S=100); ${responses.distinctResponses} distinct responses, ${(responses.bytes / 1024).toFixed(0)} KiB built`);
  }
  return lines.join('\n');
}

export async function run(): Promise<void> {
  const sizes = (process.env.SLUICE_SCOPES ?? '100x5,500x20').split(',').map((s) => s.split('x').map(Number) as [number, number]);
  for (const [scopes, namespaces] of sizes) process.stdout.write(`${measure(scopes, namespaces)}\n`);
}
