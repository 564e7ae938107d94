/**
 * xDS is not open to anyone who reaches the port: with --xds-client-ca a proxy
 * needs a certificate, and its namespace comes from the certificate's SPIFFE
 * ID, not from what its node metadata claims.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { credentials } from '@grpc/grpc-js';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SotwClient, typeUrls } from '../support/ads-client.js';
import { startControlPlane } from '../support/control-plane.js';
import { certificateAuthority, type Pem } from '../support/spiffe-certificates.js';
import { ordersPolicy, ordersService } from '../support/temp-config.js';
import { X509Certificate } from 'node:crypto';
import { CertificateAuthority } from '../../control-plane/identity/certificate-authority.js';
import { ClientCertificateVerifier } from '../../control-plane/identity/workload-identity.js';
import { secretTypeUrl } from '../../control-plane/xds/secret-discovery.js';

let dir: string;
let running: Awaited<ReturnType<typeof startControlPlane>>;
let ca: Pem;
let issue: Awaited<ReturnType<typeof certificateAuthority>>['issue'];
const clients: SotwClient[] = [];

beforeAll(async () => {
  const authority = await certificateAuthority();
  ca = authority.ca;
  issue = authority.issue;
  const server = await issue('sluice-xds', [{ type: 'ip', value: '127.0.0.1' }, { type: 'dns', value: 'localhost' }]);
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-tls-'));
  await writeFile(path.join(dir, 'tls.crt'), server.cert);
  await writeFile(path.join(dir, 'tls.key'), server.key);
  await writeFile(path.join(dir, 'ca.crt'), ca.cert);
  running = await startControlPlane(
    { 'svc.yaml': ordersService, 'tp.yaml': ordersPolicy() },
    {
      tls: { certFile: path.join(dir, 'tls.crt'), keyFile: path.join(dir, 'tls.key'), clientCaFile: path.join(dir, 'ca.crt') },
      // The mesh CA accepts the xDS client certificate as proof of the service account.
      workloadIdentity: { authority: await CertificateAuthority.create({ trustDomain: 'cluster.local' }), verifiers: [new ClientCertificateVerifier()] },
    },
  );
});

afterAll(async () => {
  for (const c of clients) c.close();
  await running?.stop();
  await rm(dir, { recursive: true, force: true });
});

async function clientWith(pem: Pem | undefined, nodeId: string, metadata: Record<string, unknown>) {
  const creds = pem
    ? credentials.createSsl(Buffer.from(ca.cert), Buffer.from(pem.key), Buffer.from(pem.cert))
    : credentials.createSsl(Buffer.from(ca.cert));
  const client = new SotwClient(running.xdsAddress, { nodeId, metadata, credentials: creds });
  clients.push(client);
  return client;
}

const ordersDomains = (routeConfig: Record<string, unknown>) =>
  (routeConfig.virtual_hosts as Array<{ name: string; domains: string[] }>).find((v) => v.name.startsWith('orders.'))!.domains;

describe('xDS over mutual TLS', () => {
  it('takes the namespace from the SPIFFE ID, not from the node metadata', async () => {
    const payments = await issue('proxy', [{ type: 'url', value: 'spiffe://cluster.local/ns/payments/sa/checkout' }]);
    // Claims to be a shop pod fronting orders; the certificate says payments.
    const client = await clientWith(payments, 'impostor-0.shop', { namespace: 'shop', labels: { app: 'orders', version: 'v1' } });
    client.request(typeUrls.routes, ['8080']);
    const rds = await client.nextOf(typeUrls.routes);
    // In its real namespace the short name `orders` does not resolve to shop's service.
    expect(ordersDomains(rds.resources[0]!)).not.toContain('orders');
    expect(ordersDomains(rds.resources[0]!)).toContain('orders.shop');
    client.request(typeUrls.listeners, [], rds);
    const lds = await client.nextOf(typeUrls.listeners);
    const inbound = lds.resources.find((l) => l.name === 'virtualInbound') as { filter_chains: unknown[] };
    // It does not get the inbound configuration of shop's orders pods: only the passthrough chain.
    expect(inbound.filter_chains).toHaveLength(1);
    const syncz = (await running.admin('/debug/syncz')).json() as Array<{ nodeId: string; namespace: string }>;
    expect(syncz.find((r) => r.nodeId === 'impostor-0.shop')?.namespace).toBe('payments');
  });

  it('a proxy with a certificate for its own namespace gets its own configuration', async () => {
    const shop = await issue('proxy', [{ type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/orders' }]);
    const client = await clientWith(shop, 'orders-v1-0.shop', { namespace: 'shop', labels: { app: 'orders', version: 'v1' } });
    client.request(typeUrls.routes, ['8080']);
    const rds = await client.nextOf(typeUrls.routes);
    expect(ordersDomains(rds.resources[0]!)).toContain('orders');
  });

  it('the xDS client certificate proves the service account: SDS issues that identity\'s workload certificate', async () => {
    const shop = await issue('proxy', [{ type: 'url', value: 'spiffe://cluster.local/ns/shop/sa/orders' }]);
    const client = await clientWith(shop, 'orders-v1-1.shop', { namespace: 'shop', serviceAccount: 'admin' });
    client.request(secretTypeUrl, ['default']);
    const response = await client.nextOf(secretTypeUrl);
    const secret = response.resources[0] as { tls_certificate: { certificate_chain: { inline_string: string } } };
    // The certificate's identity, not what the metadata claims.
    expect(new X509Certificate(secret.tls_certificate.certificate_chain.inline_string).subjectAltName).toBe('URI:spiffe://cluster.local/ns/shop/sa/orders');
  });

  it('refuses a proxy without a client certificate', async () => {
    const client = await clientWith(undefined, 'anonymous-0.shop', { namespace: 'shop' });
    client.request(typeUrls.clusters);
    await expect(client.nextOf(typeUrls.clusters, 5000)).rejects.toThrow();
  });

  it('refuses a SPIFFE ID of a foreign trust domain, even signed by the trusted CA', async () => {
    const foreign = await issue('proxy', [{ type: 'url', value: 'spiffe://evil.example/ns/payments/sa/checkout' }]);
    const client = await clientWith(foreign, 'evil-0.payments', { namespace: 'payments' });
    client.request(typeUrls.clusters);
    await expect(client.nextOf(typeUrls.clusters, 5000)).rejects.toThrow(/trust domain "evil\.example"/);
    const syncz = (await running.admin('/debug/syncz')).json() as Array<{ nodeId: string }>;
    expect(syncz.find((r) => r.nodeId === 'evil-0.payments')).toBeUndefined();
  });

  it('refuses a certificate without a SPIFFE ID', async () => {
    const plain = await issue('no-spiffe', [{ type: 'dns', value: 'somebody.example' }]);
    const client = await clientWith(plain, 'plain-0.shop', { namespace: 'shop' });
    client.request(typeUrls.clusters);
    await expect(client.nextOf(typeUrls.clusters, 5000)).rejects.toThrow(/SPIFFE/);
  });
});
