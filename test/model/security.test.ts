/**
 * PeerAuthentication and AuthorizationPolicy in the model and the memoised
 * translator: the most specific mode wins, policies apply by selector, the
 * model warns about rules that cannot match, and a mode change reaches a
 * sidecar's inbound listener through the Translator's reuse.
 */
import { describe, expect, it } from 'vitest';
import { evaluateLoad } from '../../control-plane/model/build.js';
import type { Snapshot } from '../../control-plane/model/snapshot.js';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import { Translator } from '../../control-plane/translate/translate.js';
import { tempConfig } from '../support/temp-config.js';

const services = `apiVersion: v1
kind: Service
metadata: { name: ledger, namespace: payments }
spec: { selector: { app: ledger }, ports: [{ name: http, port: 8080, targetPort: 8080 }] }
---
apiVersion: v1
kind: Service
metadata: { name: checkout, namespace: payments }
spec: { selector: { app: checkout }, ports: [{ name: http, port: 8080, targetPort: 8080 }] }
`;

const peer = (name: string, mode: string, selector?: string) => `apiVersion: sluice.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: ${name}, namespace: payments }
spec: { ${selector ? `selector: ${selector}, ` : ''}mode: ${mode} }
`;

async function build(files: Record<string, string>): Promise<Snapshot> {
  const config = await tempConfig(files);
  try {
    const result = evaluateLoad(await loadDirectory(config.dir));
    if (!result.ok) throw new Error(result.issues.map((i) => i.message).join('\n'));
    return result.snapshot;
  } finally {
    await config.cleanup();
  }
}

describe('security in the model', () => {
  it('a selector policy beats the namespace default; services of other namespaces are untouched', async () => {
    const snapshot = await build({ 'svc.yaml': services, 'ns.yaml': peer('default', 'PERMISSIVE'), 'ledger.yaml': peer('ledger', 'STRICT', '{ app: ledger }') });
    expect(snapshot.services.get('ledger.payments.svc.cluster.local')!.security?.mtls).toMatchObject({ mode: 'STRICT', policy: { name: 'ledger' } });
    expect(snapshot.services.get('checkout.payments.svc.cluster.local')!.security?.mtls).toMatchObject({ mode: 'PERMISSIVE', policy: { name: 'default' } });
  });

  it('warns about a selector that matches nothing and about identity rules on a plaintext service', async () => {
    const snapshot = await build({
      'svc.yaml': services,
      'stray.yaml': peer('stray', 'STRICT', '{ app: nothing }'),
      'authz.yaml': `apiVersion: sluice.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: ledger-callers, namespace: payments }
spec:
  selector: { app: ledger }
  action: ALLOW
  rules: [{ from: { namespaces: [shop] } }]
`,
    });
    const messages = snapshot.warnings.map((w) => `${w.object.kind} ${w.object.name}: ${w.message}`);
    expect(messages).toContainEqual(expect.stringMatching(/PeerAuthentication stray: no Service in namespace payments selects pods with labels \{"app":"nothing"\}/));
    expect(messages).toContainEqual(expect.stringMatching(/Service ledger: AuthorizationPolicy rules with "from" need the caller's identity/));
    expect(snapshot.warnings.find((w) => w.object.name === 'stray')?.location?.line).toBe(4);
  });

  it('a mode change reaches the sidecar inbound listener through the memoised translator', async () => {
    const translator = new Translator();
    const scope = { mode: 'sidecar' as const, namespace: 'payments', servedHosts: ['ledger.payments.svc.cluster.local'] };
    const inbound = (snapshot: Snapshot) => translator.translate(snapshot, scope, { validate: true }).listeners.find((l) => l.name === 'virtualInbound')!.body as { filter_chains: Array<{ name: string; transport_socket?: unknown }> };
    const plain = inbound(await build({ 'svc.yaml': services }));
    const permissive = inbound(await build({ 'svc.yaml': services, 'ns.yaml': peer('default', 'PERMISSIVE') }));
    const strict = inbound(await build({ 'svc.yaml': services, 'ns.yaml': peer('default', 'STRICT') }));
    expect(plain.filter_chains.map((c) => c.name)).toEqual(['inbound|8080||', 'passthrough']);
    expect(permissive.filter_chains.map((c) => c.name)).toEqual(['inbound|8080||_tls', 'inbound|8080||', 'passthrough']);
    expect(strict.filter_chains.map((c) => c.name)).toEqual(['inbound|8080||_tls', 'passthrough']);
    expect(strict.filter_chains[0]!.transport_socket).toBeDefined();
  });
});
