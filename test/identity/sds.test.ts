/**
 * Workload certificates over SDS (issue #18): a proxy that proves its service
 * account (a projected token checked with TokenReview) gets a SPIFFE
 * certificate signed by the mesh CA and the trust bundle; one that cannot
 * gets no certificate; identities never share keys; rotation re-pushes on the
 * open stream; and no private key shows up in logs, /debug/* or /metrics.
 */
import { X509Certificate } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority } from '../../control-plane/identity/certificate-authority.js';
import { CaDirectoryStore } from '../../control-plane/identity/ca-store.js';
import { NodeMetadataVerifier, TokenReviewVerifier } from '../../control-plane/identity/workload-identity.js';
import { createLogger } from '../../control-plane/log/logger.js';
import { secretTypeUrl } from '../../control-plane/xds/secret-discovery.js';
import { DeltaClient, SotwClient } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';
import { renderStatusTable } from '../../control-plane/cli/commands/status.js';

let fake: FakeKubeApiServer;
let running: Awaited<ReturnType<typeof startControlPlane>>;
let caDir: string;
let authority: CertificateAuthority;
const logLines: string[] = [];
const clients: Array<{ close(): void }> = [];

/** Rotation is exercised with a short lifetime: renewal comes at half-life. */
const ttlMs = 3_000;

beforeAll(async () => {
  fake = await FakeKubeApiServer.start();
  caDir = await mkdtemp(path.join(tmpdir(), 'sluice-ca-'));
  authority = await CertificateAuthority.create({ trustDomain: 'cluster.local', store: new CaDirectoryStore(caDir) });
  const sink = new PassThrough();
  sink.on('data', (chunk: Buffer) => logLines.push(chunk.toString('utf8')));
  running = await startControlPlane(
    { 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy(), 'peer.yaml': 'apiVersion: sluice.dev/v1alpha1\nkind: PeerAuthentication\nmetadata: { name: default, namespace: shop }\nspec: { mode: PERMISSIVE }\n' },
    {
      logger: createLogger('debug', sink),
      workloadIdentity: { authority, verifiers: [new TokenReviewVerifier(fake.kubeConfig('system:serviceaccount:sluice-system:sluice')), new NodeMetadataVerifier()], certificateTtlMs: ttlMs },
    },
  );
});

afterAll(async () => {
  for (const client of clients) client.close();
  await running?.stop();
  await fake?.close();
  await rm(caDir, { recursive: true, force: true });
});

function sotw(nodeId: string, token?: string, metadata: Record<string, unknown> = { namespace: 'shop' }) {
  const client = new SotwClient(running.xdsAddress, { nodeId, metadata, ...(token ? { callMetadata: { authorization: `Bearer ${token}` } } : {}) });
  clients.push(client);
  return client;
}

type SecretJson = { name: string; tls_certificate?: { certificate_chain: { inline_string: string }; private_key: { inline_string: string } }; validation_context?: { trusted_ca: { inline_string: string } } };
const secretNamed = (resources: Array<Record<string, unknown>>, name: string) => (resources as SecretJson[]).find((s) => s.name === name);

describe('SDS: workload certificates', () => {
  it('a proxy proving its service account with a token gets its SPIFFE certificate, signed by the trust bundle it also gets', async () => {
    const client = sotw('orders-v1-0.shop', fake.issueToken('system:serviceaccount:shop:orders'), { namespace: 'shop', labels: { app: 'orders', version: 'v1' } });
    client.request(secretTypeUrl, ['default', 'ROOTCA']);
    const response = await client.nextOf(secretTypeUrl);
    const leaf = secretNamed(response.resources, 'default')!;
    const bundle = secretNamed(response.resources, 'ROOTCA')!;
    const certificate = new X509Certificate(leaf.tls_certificate!.certificate_chain.inline_string);
    expect(certificate.subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/orders');
    const root = new X509Certificate(bundle.validation_context!.trusted_ca.inline_string);
    expect(certificate.verify(root.publicKey)).toBe(true);
    expect(certificate.checkIssued(root)).toBe(true);
    expect(new Date(certificate.validTo).getTime() - Date.now()).toBeLessThanOrEqual(ttlMs + 1_000);
    // The key belongs to the certificate.
    expect(certificate.checkPrivateKey((await import('node:crypto')).createPrivateKey(leaf.tls_certificate!.private_key.inline_string))).toBe(true);
    const syncz = (await running.admin('/debug/syncz')).json() as Array<{ nodeId: string; certificate?: { spiffeId: string; notAfter: string } }>;
    expect(syncz.find((row) => row.nodeId === 'orders-v1-0.shop')?.certificate?.spiffeId).toBe('spiffe://cluster.local/ns/shop/sa/orders');
  });

  it('sluice status shows each workload\'s mTLS mode and certificate expiry', async () => {
    const rows = (await running.admin('/debug/syncz')).json() as Parameters<typeof renderStatusTable>[0];
    const table = renderStatusTable(rows);
    const line = table.split('\n').find((l) => l.startsWith('orders-v1-0.shop'))!;
    expect(table.split('\n')[0]).toMatch(/MTLS\s+CERT EXPIRES$/);
    expect(line).toMatch(/PERMISSIVE\s+(in \d+s|EXPIRED)$/);
  });

  it('different identities never share a key; the same identity shares its certificate', async () => {
    const [a, b, c] = [sotw('orders-v1-1.shop', fake.issueToken('system:serviceaccount:shop:orders')), sotw('web-0.shop', fake.issueToken('system:serviceaccount:shop:web')), sotw('orders-v1-2.shop', fake.issueToken('system:serviceaccount:shop:orders'))];
    for (const client of [a, b, c]) client.request(secretTypeUrl, ['default']);
    const [ra, rb, rc] = await Promise.all([a, b, c].map((client) => client.nextOf(secretTypeUrl)));
    const key = (r: typeof ra) => secretNamed(r!.resources, 'default')!.tls_certificate!.private_key.inline_string;
    const san = (r: typeof ra) => new X509Certificate(secretNamed(r!.resources, 'default')!.tls_certificate!.certificate_chain.inline_string).subjectAltName;
    expect(key(ra)).not.toBe(key(rb));
    expect(san(rb)).toBe('URI:spiffe://cluster.local/ns/shop/sa/web');
    expect(key(ra)).toBe(key(rc));
  });

  it('a proxy without proof gets the trust bundle but no certificate, and is counted', async () => {
    const client = sotw('stranger-0.shop');
    client.request(secretTypeUrl, ['default', 'ROOTCA']);
    const response = await client.nextOf(secretTypeUrl);
    expect(secretNamed(response.resources, 'default')).toBeUndefined();
    expect(secretNamed(response.resources, 'ROOTCA')).toBeDefined();
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_workload_certificates_failed_total\{reason="unproven"\} [1-9]/);
  });

  it('a token of another namespace, or a forged one, gets no certificate', async () => {
    const other = sotw('sneaky-0.shop', fake.issueToken('system:serviceaccount:payments:checkout'));
    const forged = sotw('forged-0.shop', 'not-a-real-token');
    for (const client of [other, forged]) client.request(secretTypeUrl, ['default']);
    for (const client of [other, forged]) expect(secretNamed((await client.nextOf(secretTypeUrl)).resources, 'default')).toBeUndefined();
    expect(logLines.join('')).toMatch(/not of namespace shop/);
  });

  it('a certificate is rotated before expiry and pushed on the open stream (delta too)', async () => {
    const client = new DeltaClient(running.xdsAddress, { nodeId: 'orders-v2-0.shop', metadata: { namespace: 'shop', serviceAccount: 'orders-v2' } });
    clients.push(client);
    client.request({ typeUrl: secretTypeUrl, subscribe: ['default'] });
    const first = await client.nextOf(secretTypeUrl);
    client.ack(first);
    const second = await client.nextOf(secretTypeUrl, ttlMs * 2);
    const serial = (r: typeof first) => new X509Certificate((r.resources[0]!.resource as SecretJson).tls_certificate!.certificate_chain.inline_string).serialNumber;
    expect(second.resources[0]!.name).toBe('default');
    expect(serial(second)).not.toBe(serial(first));
    const metrics = (await running.admin('/metrics')).text;
    expect(metrics).toMatch(/sluice_workload_certificates_issued_total\{reason="rotation"\} [1-9]/);
  });

  it('no private key appears in logs, /debug/*, config dumps or /metrics', async () => {
    const caKey = await readFile(path.join(caDir, 'ca.key'), 'utf8');
    const caKeyBody = caKey.split('\n').filter((line) => line && !line.startsWith('-----')).join('');
    expect(caKeyBody.length).toBeGreaterThan(40);
    const client = sotw('orders-v1-3.shop', fake.issueToken('system:serviceaccount:shop:orders'));
    client.request(secretTypeUrl, ['default']);
    const workloadKey = secretNamed((await client.nextOf(secretTypeUrl)).resources, 'default')!.tls_certificate!.private_key.inline_string;
    const workloadKeyBody = workloadKey.split('\n').filter((line) => line && !line.startsWith('-----')).join('');
    const outputs = [
      logLines.join(''),
      (await running.admin('/debug/syncz')).text,
      (await running.admin('/debug/certificates')).text,
      (await running.admin('/debug/config_dump?proxy=orders-v1-3.shop')).text,
      (await running.admin('/metrics')).text,
      JSON.stringify(authority),
      (await import('node:util')).inspect(authority, { depth: 5 }),
    ];
    expect((await running.admin('/debug/certificates')).json()).toMatchObject({ authority: { trustDomain: 'cluster.local' }, workloads: expect.arrayContaining([expect.objectContaining({ spiffeId: 'spiffe://cluster.local/ns/shop/sa/orders' })]) });
    for (const output of outputs) {
      expect(output).not.toContain('PRIVATE KEY');
      // 64-character lines of the base64 bodies, in case a key is printed without its armour.
      for (const body of [caKeyBody, workloadKeyBody]) for (let i = 0; i + 64 <= body.length; i += 64) expect(output).not.toContain(body.slice(i, i + 64));
    }
  });

  it('the generated root is kept: a restart signs with the same CA', async () => {
    const again = await CertificateAuthority.create({ trustDomain: 'cluster.local', store: new CaDirectoryStore(caDir) });
    expect(again.trustBundlePem).toBe(authority.trustBundlePem);
    expect(again.source).toMatch(/^root from directory/);
  });
});
