/**
 * The webhook's certificate managed in the cluster (webhook/ca-bundle.ts)
 * against the fake API server with the real @kubernetes/client-node: Secret
 * created once by racing replicas, caBundle patched only on our webhooks, a
 * TLS handshake the API server would accept, renewal and CA rotation with
 * caBundle updated before the new certificate is served.
 */
import { connect, createServer, type Server } from 'node:tls';
import type { AddressInfo } from 'node:net';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import 'reflect-metadata';
import * as x509 from '@peculiar/x509';
import { WebhookCertificateManager, type ServingMaterial } from '../../webhook/ca-bundle.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { readYamlDocuments, repoRoot, silent, waitFor } from '../kubernetes/helpers.js';

const DAY = 86_400_000;
const MWC = 'sluice-sidecar-injector';

let fake: FakeKubeApiServer | undefined;
afterEach(async () => {
  await fake?.close();
  fake = undefined;
});

async function cluster(withConfiguration = true): Promise<FakeKubeApiServer> {
  fake = await FakeKubeApiServer.start({ namespaceLifecycle: true });
  fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sluice-system' } });
  if (withConfiguration) fake.apply(await shippedConfiguration());
  return fake;
}

/** The MutatingWebhookConfiguration as shipped, plus someone else's webhook that must stay untouched. */
async function shippedConfiguration(): Promise<Record<string, any>> {
  const [mwc] = await readYamlDocuments(path.join(repoRoot, 'examples/webhook/mutating-webhook-configuration.yaml'));
  const foreign = { ...structuredClone(mwc!.webhooks[0]), name: 'other.example.com', clientConfig: { service: { name: 'other', namespace: 'other-system', path: '/x', port: 443 }, caBundle: Buffer.from('theirs').toString('base64') } };
  return { ...mwc!, webhooks: [...mwc!.webhooks, foreign] };
}

function manager(fake: FakeKubeApiServer, now: () => number = Date.now): WebhookCertificateManager {
  return new WebhookCertificateManager({ kubeConfig: fake.kubeConfig('system:serviceaccount:sluice-system:sluice-webhook'), namespace: 'sluice-system', secretName: 'sluice-webhook-tls', service: 'sluice-webhook', webhookConfiguration: MWC, log: silent, now });
}

const caBundles = (fake: FakeKubeApiServer) => (fake.get('admissionregistration.k8s.io/v1', 'MutatingWebhookConfiguration', undefined, MWC)!.webhooks as any[]).map((w) => w.clientConfig.caBundle as string | undefined);
const decode = (b64: string | undefined) => Buffer.from(b64 ?? '', 'base64').toString('utf8');
const pemCount = (text: string) => text.match(/-----BEGIN CERTIFICATE-----/g)?.length ?? 0;

/** Complete a TLS handshake as the API server would: trusting only caBundle, checking the Service's DNS name. */
async function handshake(material: Pick<ServingMaterial, 'certPem' | 'keyPem'>, caBundlePem: string, servername = 'sluice-webhook.sluice-system.svc'): Promise<string> {
  const server: Server = createServer({ cert: material.certPem, key: material.keyPem }, (socket) => socket.end('ok'));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  try {
    return await new Promise<string>((resolve, reject) => {
      const socket = connect({ host: '127.0.0.1', port: (server.address() as AddressInfo).port, ca: caBundlePem, servername }, () => undefined);
      socket.on('data', (data) => resolve(data.toString()));
      socket.on('error', reject);
    });
  } finally {
    server.close();
  }
}

/**
 * Chain check at a simulated date (TLS itself checks validity against the real
 * clock, so certificates from the future are checked here instead).
 */
async function trustedAt(certPem: string, caBundlePem: string, at: number): Promise<boolean> {
  const leaf = new x509.X509Certificate(certPem);
  const date = new Date(at);
  for (const der of x509.PemConverter.decode(caBundlePem)) {
    const ca = new x509.X509Certificate(der);
    if (ca.notAfter < date || ca.notBefore > date) continue;
    if (await leaf.verify({ publicKey: ca, date })) return true;
  }
  return false;
}

describe('webhook certificate and caBundle, managed in the cluster', () => {
  it('creates the Secret, patches caBundle of our two webhooks only, and the API server would trust the served certificate', async () => {
    const fake = await cluster();
    const served: ServingMaterial[] = [];
    const material = await manager(fake).reconcile((m) => served.push(m));
    expect(served).toEqual([material]);

    const secret = fake.get('v1', 'Secret', 'sluice-system', 'sluice-webhook-tls')!;
    expect(secret.type).toBe('kubernetes.io/tls');
    expect(Object.keys(secret.data as object).sort()).toEqual(['ca.crt', 'ca.key', 'tls.crt', 'tls.key']);
    expect(decode((secret.data as Record<string, string>)['tls.crt'])).toBe(material.certPem);

    const [namespaced, optIn, foreign] = caBundles(fake);
    expect(decode(namespaced)).toBe(material.caBundlePem);
    expect(optIn).toBe(namespaced);
    expect(decode(foreign)).toBe('theirs');
    expect(await handshake(material, decode(namespaced))).toBe('ok');
    // The control: a name the certificate does not carry, or another CA, is refused.
    await expect(handshake(material, decode(namespaced), 'evil.sluice-system.svc')).rejects.toThrow(/altnames|does not match/i);
  });

  it('replicas racing on an empty cluster converge on one Secret; a later replica changes nothing', async () => {
    const fake = await cluster();
    const [a, b, c] = await Promise.all([manager(fake).reconcile(() => undefined), manager(fake).reconcile(() => undefined), manager(fake).reconcile(() => undefined)]);
    expect(new Set([a.certPem, b.certPem, c.certPem]).size).toBe(1);
    const writes = () => fake.requests.filter((r) => r.path.includes('/secrets') && ['POST', 'PUT'].includes(r.method) && r.status! < 300).length;
    expect(writes()).toBe(1);
    expect(fake.requests.some((r) => r.method === 'POST' && r.status === 409)).toBe(true);
    const again = await manager(fake).reconcile(() => undefined);
    expect(again).toEqual(a);
    expect(writes()).toBe(1);
  });

  it('retries a write that loses an optimistic-concurrency race', async () => {
    const fake = await cluster();
    await manager(fake).ensureSecret();
    fake.failRequests((r) => r.method === 'PUT' && r.path.endsWith(`/mutatingwebhookconfigurations/${MWC}`), 409);
    const material = await manager(fake).reconcile(() => undefined);
    expect(decode(caBundles(fake)[0])).toBe(material.caBundlePem);
  });

  it('a configuration applied after the webhook started gets its caBundle on the next reconcile (start loop), and a wiped one is restored', async () => {
    const fake = await cluster(false);
    const m = manager(fake);
    const first = await m.reconcile(() => undefined);
    expect(await m.patchCaBundle(first.caBundlePem)).toBe(false);
    const reloads: ServingMaterial[] = [];
    m.start((material) => reloads.push(material), 1_000, first.version);
    try {
      fake.apply(await shippedConfiguration());
      await waitFor(() => decode(caBundles(fake)[0]) === first.caBundlePem, 5_000, 'caBundle set');
      // `kubectl replace` of the shipped file (which has no caBundle) wipes it: restored.
      fake.apply(await shippedConfiguration());
      expect(caBundles(fake)[0]).toBeUndefined();
      await waitFor(() => decode(caBundles(fake)[1]) === first.caBundlePem, 5_000, 'caBundle restored');
      expect(reloads).toEqual([]); // the Secret did not change: nothing to reload
    } finally {
      await m.stop();
    }
  });

  it('renews the serving certificate under the same CA, then rotates the CA keeping the old one trusted until it expires', async () => {
    const fake = await cluster();
    let now = Date.now();
    const clock = () => now;
    const events: string[] = [];
    const serve = (m: ServingMaterial) => events.push(`serve with bundle of ${pemCount(m.caBundlePem)}; caBundle in cluster has ${pemCount(decode(caBundles(fake)[0]))}`);
    const initial = await manager(fake, clock).reconcile(serve);

    now += 61 * DAY; // a 90-day certificate with less than a third left
    const renewed = await manager(fake, clock).reconcile(serve);
    expect(renewed.certPem).not.toBe(initial.certPem);
    expect(renewed.caBundlePem).toBe(initial.caBundlePem);
    expect(await trustedAt(renewed.certPem, decode(caBundles(fake)[0]), now)).toBe(true);

    now = Date.now() + 2500 * DAY; // the 10-year CA is two-thirds through
    const rotated = await manager(fake, clock).reconcile(serve);
    expect(pemCount(rotated.caBundlePem)).toBe(2);
    expect(rotated.caBundlePem).toContain(initial.caBundlePem.trim());
    // New connections with the new certificate, and replicas still on the old one, are both trusted.
    expect(await trustedAt(rotated.certPem, decode(caBundles(fake)[0]), now)).toBe(true);
    expect(await trustedAt(initial.certPem, decode(caBundles(fake)[0]), Date.now())).toBe(true);
    expect(await trustedAt(rotated.certPem, initial.caBundlePem, now)).toBe(false); // the control: the old bundle alone would refuse it
    // caBundle held the new CA before the new certificate was handed to the server.
    expect(events.at(-1)).toBe('serve with bundle of 2; caBundle in cluster has 2');

    now = Date.now() + 3700 * DAY; // the old CA has expired: dropped from the bundle
    const pruned = await manager(fake, clock).reconcile(serve);
    expect(pemCount(pruned.caBundlePem)).toBe(1);
    expect(pemCount(decode(caBundles(fake)[0]))).toBe(1);
    expect(await trustedAt(pruned.certPem, decode(caBundles(fake)[0]), now)).toBe(true);
  });

  it('repairs a Secret someone broke (a CA key that is not the CA\'s) and keeps the type it was created with', async () => {
    const fake = await cluster();
    const first = await manager(fake).reconcile(() => undefined);
    const secret = fake.get('v1', 'Secret', 'sluice-system', 'sluice-webhook-tls')! as Record<string, any>;
    // Another CA's key, from another cluster.
    const elsewhere = await FakeKubeApiServer.start();
    elsewhere.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'sluice-system' } });
    await manager(elsewhere).ensureSecret();
    const strangerKey = (elsewhere.get('v1', 'Secret', 'sluice-system', 'sluice-webhook-tls')! as Record<string, any>).data['ca.key'];
    await elsewhere.close();
    fake.apply({ ...secret, type: 'Opaque', data: { ...secret.data, 'ca.key': strangerKey } });
    const repaired = await manager(fake).reconcile(() => undefined);
    expect(repaired.caBundlePem).not.toBe(first.caBundlePem);
    expect(decode(caBundles(fake)[0])).toBe(repaired.caBundlePem);
    expect(await trustedAt(repaired.certPem, repaired.caBundlePem, Date.now())).toBe(true);
    expect(fake.get('v1', 'Secret', 'sluice-system', 'sluice-webhook-tls')!.type).toBe('Opaque');
    // Repaired once: the next reconcile writes nothing.
    const version = repaired.version;
    expect((await manager(fake).reconcile(() => undefined)).version).toBe(version);
  });

  it('refuses a configuration with no webhook calling our Service, naming it', async () => {
    const fake = await cluster(false);
    fake.apply({ apiVersion: 'admissionregistration.k8s.io/v1', kind: 'MutatingWebhookConfiguration', metadata: { name: MWC }, webhooks: [] });
    await expect(manager(fake).reconcile(() => undefined)).rejects.toThrow(/no webhook calling Service sluice-system\/sluice-webhook/);
  });
});
