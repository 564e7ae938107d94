/**
 * Translation speed on a generated mesh of 1,000 services × 2 versions × 10
 * endpoints with a policy on every service: a full translation of one scope,
 * and re-translation after one policy changes. Targets: full ≤ 100 ms,
 * one-policy change ≤ 5 ms.
 */
import { proxyIdentityFromNode, scopeOf } from '../../control-plane/translate/proxy-scope.js';
import { Translator } from '../../control-plane/translate/translate.js';
import { meshFiles, policyText, snapshotOf } from '../support/generated-mesh.js';

function percentile(values: number[], p: number): number {
  const sorted = [...values].sort((a, b) => a - b);
  return sorted[Math.min(sorted.length - 1, Math.floor((p / 100) * sorted.length))]!;
}

export async function run(): Promise<void> {
  const shape = { services: 1000, versions: 2, endpointsPerVersion: 10, namespaces: 10 };
  const files = meshFiles(shape);
  const snapshot = snapshotOf(files);
  const proxy = proxyIdentityFromNode('client-0.ns-0', { labels: { app: 'client' } });
  const scope = scopeOf(snapshot, proxy);

  // Full translation: a fresh Translator each time (nothing reused).
  new Translator().translate(snapshot, scope); // warm-up: JIT and proto loading
  const fullTimes: number[] = [];
  let resourceCount = 0;
  for (let i = 0; i < 10; i++) {
    const started = performance.now();
    const result = new Translator().translate(snapshot, scope);
    fullTimes.push(performance.now() - started);
    resourceCount = result.listeners.length + result.routes.length + result.clusters.length + result.endpoints.length;
  }
  const full = percentile(fullTimes, 50);
  process.stdout.write(`mesh: ${shape.services} services × ${shape.versions} versions × ${shape.endpointsPerVersion} endpoints, policies on all; one sidecar scope = ${resourceCount} resources\n`);
  process.stdout.write(`full translation: p50 ${full.toFixed(1)} ms, best ${Math.min(...fullTimes).toFixed(1)} ms (${Math.round(resourceCount / (full / 1000)).toLocaleString('en')} resources/s; target ≤ 100 ms)\n`);

  // One policy changes: the Translator reuses every other service's resources.
  // Snapshots are built first so only translation is timed.
  const snapshots = Array.from({ length: 40 }, (_, i) =>
    snapshotOf(files.map(([name, text]) => (name === 'ns-3/svc-0003-policy.yaml' ? [name, policyText(3, 'ns-3', 2, 11 + i)] : [name, text]) as [string, string])),
  );
  if (new Set(snapshots.map((s) => s.version)).size !== snapshots.length) throw new Error('the policy changes did not change the snapshot');
  const translator = new Translator();
  translator.translate(snapshot, scope);
  const changeTimes: number[] = [];
  snapshots.forEach((next, i) => {
    const started = performance.now();
    translator.translate(next, scope);
    if (i >= 10) changeTimes.push(performance.now() - started); // the first ten warm the JIT
  });
  process.stdout.write(`re-translation after one policy change: p50 ${percentile(changeTimes, 50).toFixed(2)} ms, p99 ${percentile(changeTimes, 99).toFixed(2)} ms over ${changeTimes.length} changes (target ≤ 5 ms)\n`);

  // Validation against Envoy's rules (done once per distinct resource in serve).
  const started = performance.now();
  const validated = new Translator().translate(snapshot, scope, { validate: true });
  const errors = validated.issues.filter((i) => i.severity === 'error').length;
  process.stdout.write(`full translation with Envoy validate-rules checks: ${(performance.now() - started).toFixed(0)} ms, ${errors} invalid resources\n`);
}
