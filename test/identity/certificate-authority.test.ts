/**
 * The mesh CA's sources: a root generated once into a Kubernetes Secret (a
 * second replica signs with the same one), a user-provided intermediate whose
 * chain reaches the user's root, and refusals that name what is wrong.
 */
import { webcrypto, X509Certificate } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { CertificateAuthority, CertificateAuthorityError } from '../../control-plane/identity/certificate-authority.js';
import { CaSecretStore } from '../../control-plane/identity/ca-store.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { certificateAuthority } from '../support/spiffe-certificates.js';

let fake: FakeKubeApiServer;

beforeAll(async () => {
  fake = await FakeKubeApiServer.start();
});

afterAll(async () => {
  await fake?.close();
});

describe('mesh CA', () => {
  it('a root generated into a Secret is the one every replica signs with', async () => {
    const kubeConfig = fake.kubeConfig('system:serviceaccount:sluice-system:sluice');
    const [first, second] = await Promise.all([
      CertificateAuthority.create({ trustDomain: 'mesh.example', store: new CaSecretStore(kubeConfig, 'sluice-system', 'sluice-mesh-ca') }),
      CertificateAuthority.create({ trustDomain: 'mesh.example', store: new CaSecretStore(kubeConfig, 'sluice-system', 'sluice-mesh-ca') }),
    ]);
    expect(second.trustBundlePem).toBe(first.trustBundlePem);
    const later = await CertificateAuthority.create({ trustDomain: 'mesh.example', store: new CaSecretStore(kubeConfig, 'sluice-system', 'sluice-mesh-ca') });
    expect(later.source).toBe('root from Secret sluice-system/sluice-mesh-ca');
    const issued = await later.issue('payments', 'checkout', 3_600_000);
    const leaf = new X509Certificate(issued.certificateChainPem);
    expect(leaf.subjectAltName).toBe('URI:spiffe://mesh.example/ns/payments/sa/checkout');
    expect(leaf.verify(new X509Certificate(first.trustBundlePem).publicKey)).toBe(true);
  });

  it('signs with a user-provided intermediate: the chain is sent, the bundle is the user\'s root', async () => {
    const organisation = await certificateAuthority();
    // An intermediate CA certificate signed by the organisation's root (the test helper issues CA:TRUE-less leaves, so build one).
    const x509 = await import('@peculiar/x509');
    const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const rootKey = await webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decode(organisation.ca.key)[0]!, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
    const root = new x509.X509Certificate(organisation.ca.cert);
    const intermediate = await x509.X509CertificateGenerator.create({
      serialNumber: '0a',
      subject: 'CN=carrier mesh intermediate',
      issuer: root.subject,
      notBefore: new Date(Date.now() - 60_000),
      notAfter: new Date(Date.now() + 86_400_000),
      publicKey: keys.publicKey,
      signingKey: rootKey,
      signingAlgorithm: algorithm,
      extensions: [new x509.BasicConstraintsExtension(true, 0, true), new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign, true)],
    });
    const keyPem = x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', keys.privateKey), 'PRIVATE KEY');
    const authority = await CertificateAuthority.create({ trustDomain: 'cluster.local', intermediate: { certificatePem: intermediate.toString('pem'), privateKeyPem: keyPem, chainPem: organisation.ca.cert } });
    expect(authority.trustBundlePem.trim()).toBe(new X509Certificate(organisation.ca.cert).toString().trim());
    const issued = await authority.issue('gov-portal', 'portal', 60_000);
    const chain = issued.certificateChainPem.split(/(?=-----BEGIN CERTIFICATE-----)/).map((pem) => new X509Certificate(pem));
    expect(chain).toHaveLength(3);
    expect(chain[0]!.checkIssued(chain[1]!)).toBe(true);
    expect(chain[1]!.checkIssued(new X509Certificate(organisation.ca.cert))).toBe(true);
    // Never longer than asked.
    expect(Date.parse(chain[0]!.validTo) - Date.now()).toBeLessThanOrEqual(61_000);
  });

  it('refuses a certificate that is not a CA, naming it', async () => {
    const organisation = await certificateAuthority();
    const leaf = await organisation.issue('not-a-ca', [{ type: 'dns', value: 'example.com' }]);
    await expect(CertificateAuthority.create({ trustDomain: 'cluster.local', intermediate: { certificatePem: leaf.cert, privateKeyPem: leaf.key } })).rejects.toThrow(CertificateAuthorityError);
    await expect(CertificateAuthority.create({ trustDomain: 'cluster.local', intermediate: { certificatePem: leaf.cert, privateKeyPem: leaf.key } })).rejects.toThrow(/user-provided intermediate\) is not a CA certificate/);
  });
});
