/**
 * A self-signed CA and a serving certificate for quick starts and tests
 * (production passes --cert/--key, e.g. from cert-manager). Built with
 * @peculiar/x509 over Node's WebCrypto: ECDSA P-256, SHA-256.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';

// @peculiar/x509 types its provider against the DOM Crypto; Node's webcrypto is that API.
x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;

export interface ServingCertificates {
  /** PEM of the CA: what the MutatingWebhookConfiguration's caBundle holds (base64 of this). */
  readonly caPem: string;
  readonly certPem: string;
  readonly keyPem: string;
  /** `caBundle` value: base64 of caPem. */
  readonly caBundle: string;
}

export interface CertificateOptions {
  /** DNS names the API server uses to reach the webhook, e.g. `sluice-webhook.sluice-system.svc`. */
  readonly dnsNames: readonly string[];
  readonly ipAddresses?: readonly string[];
  readonly validDays?: number;
}

/** The names the API server dials for a Service-backed webhook. */
export function serviceDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

export async function generateServingCertificates(options: CertificateOptions): Promise<ServingCertificates> {
  const days = options.validDays ?? 365;
  const notBefore = new Date(Date.now() - 5 * 60_000); // tolerate clock skew between nodes
  const notAfter = new Date(Date.now() + days * 86_400_000);
  const usages: webcrypto.KeyUsage[] = ['sign', 'verify'];

  const caKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, usages) as webcrypto.CryptoKeyPair;
  const ca = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    name: 'CN=sluice-webhook-ca, O=sluice',
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    keys: caKeys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const leafKeys = await webcrypto.subtle.generateKey(ALGORITHM, true, usages) as webcrypto.CryptoKeyPair;
  const names = [
    ...options.dnsNames.map((value) => ({ type: 'dns' as const, value })),
    ...(options.ipAddresses ?? []).map((value) => ({ type: 'ip' as const, value })),
  ];
  const leaf = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${options.dnsNames[0] ?? 'sluice-webhook'}`,
    issuer: ca.subject,
    notBefore,
    notAfter,
    signingAlgorithm: ALGORITHM,
    publicKey: leafKeys.publicKey,
    signingKey: caKeys.privateKey,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(names),
      await x509.AuthorityKeyIdentifierExtension.create(caKeys.publicKey),
    ],
  });

  const pkcs8 = await webcrypto.subtle.exportKey('pkcs8', leafKeys.privateKey);
  const caPem = ca.toString('pem');
  return {
    caPem,
    certPem: leaf.toString('pem'),
    keyPem: x509.PemConverter.encode(pkcs8, 'PRIVATE KEY'),
    caBundle: Buffer.from(caPem).toString('base64'),
  };
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // positive INTEGER
  return Buffer.from(bytes).toString('hex');
}
