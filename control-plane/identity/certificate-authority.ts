/**
 * The mesh's certificate authority: it signs short-lived workload
 * certificates whose only name is a SPIFFE ID,
 * `spiffe://<trust-domain>/ns/<namespace>/sa/<service-account>`.
 *
 * The signing key is either a self-signed root generated on first start and
 * kept by a `CaStore` (a file in YAML mode, a Secret in Kubernetes mode; every
 * replica then signs with the same root), or an intermediate the user gives
 * (certificate, key and the chain up to their root), so the mesh chains to the
 * organisation's PKI.
 *
 * The private key is held as a non-extractable WebCrypto key once loaded; the
 * class never prints it (toJSON / inspect show the public part only), so it
 * cannot end up in a log line, /debug/* or a config dump by accident.
 */
import 'reflect-metadata';
import { inspect } from 'node:util';
import { randomBytes, webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { SluiceError } from '../core/errors.js';
import { spiffeUri } from '../model/security.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const algorithm = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
/** Nodes' clocks disagree a little: certificates start this much in the past. */
const clockSkewMs = 5 * 60_000;
const rootValidityMs = 10 * 365 * 86_400_000;

export class CertificateAuthorityError extends SluiceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('certificate-authority', message, context, options);
  }
}

/** What a store keeps: the CA certificate and its PKCS#8 key, PEM. */
export interface CaMaterial {
  readonly certificatePem: string;
  readonly privateKeyPem: string;
  /** An intermediate's chain up to (and including) the root, PEM; empty for a self-signed root. */
  readonly chainPem?: string;
}

/** Where a generated root survives restarts and is shared by replicas. */
export interface CaStore {
  readonly description: string;
  load(): Promise<CaMaterial | undefined>;
  /** Store `material` unless another replica stored one first; returns what is stored now. */
  create(material: CaMaterial): Promise<CaMaterial>;
}

/** A workload's certificate and key (PEM) as the proxy receives them. */
export interface WorkloadCertificate {
  readonly spiffeId: string;
  /** The leaf, then the intermediate chain if any. */
  readonly certificateChainPem: string;
  readonly privateKeyPem: string;
  readonly notBefore: Date;
  /** When it was signed (notBefore is earlier by the allowed clock skew): its lifetime counts from here. */
  readonly issuedAt: Date;
  readonly notAfter: Date;
  readonly serialNumber: string;
}

async function privateKeyPem(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importSigningKey(pem: string): Promise<webcrypto.CryptoKey> {
  const der = x509.PemConverter.decode(pem)[0];
  if (!der) throw new CertificateAuthorityError('the CA private key is not PEM');
  // Not extractable: nothing after start-up can read the key back out of the process' key object.
  return webcrypto.subtle.importKey('pkcs8', der, { name: 'ECDSA', namedCurve: 'P-256' }, false, ['sign']);
}

async function generateRoot(trustDomain: string): Promise<CaMaterial> {
  const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const now = Date.now();
  const certificate = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomBytes(16).toString('hex').replace(/^[89a-f]/, '1'),
    name: `O=sluice, CN=sluice mesh root ${trustDomain}`,
    notBefore: new Date(now - clockSkewMs),
    notAfter: new Date(now + rootValidityMs),
    keys,
    signingAlgorithm: algorithm,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      new x509.SubjectAlternativeNameExtension([{ type: 'url', value: `spiffe://${trustDomain}` }]),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { certificatePem: certificate.toString('pem'), privateKeyPem: await privateKeyPem(keys.privateKey) };
}

export interface CertificateAuthorityOptions {
  readonly trustDomain: string;
  /** A user-provided intermediate (certificate, key, chain to the root); otherwise a root from `store`, generated if absent. */
  readonly intermediate?: CaMaterial;
  readonly store?: CaStore;
  /** The clock (tests move it to force rotations). */
  readonly now?: () => number;
}

export class CertificateAuthority {
  readonly trustDomain: string;
  readonly certificate: x509.X509Certificate;
  /** The roots workloads trust (the mesh's trust bundle), PEM. */
  readonly trustBundlePem: string;
  readonly source: string;
  readonly #signingKey: webcrypto.CryptoKey;
  readonly #chainPem: string;
  readonly #now: () => number;

  private constructor(trustDomain: string, certificate: x509.X509Certificate, signingKey: webcrypto.CryptoKey, chainPem: string, source: string, now: () => number) {
    this.trustDomain = trustDomain;
    this.certificate = certificate;
    this.#signingKey = signingKey;
    this.#chainPem = chainPem;
    // A self-signed root is its own bundle; an intermediate's bundle is the top of its chain.
    const chain = chainPem ? x509.PemConverter.decode(chainPem).map((der) => new x509.X509Certificate(der)) : [];
    const root = chain.length > 0 ? chain[chain.length - 1]! : certificate;
    this.trustBundlePem = root.toString('pem');
    this.source = source;
    this.#now = now;
  }

  static async create(options: CertificateAuthorityOptions): Promise<CertificateAuthority> {
    const now = options.now ?? Date.now;
    let material = options.intermediate;
    let source = 'user-provided intermediate';
    if (!material) {
      const store = options.store;
      material = await store?.load();
      source = store ? `root from ${store.description}` : 'in-memory root (lost on restart)';
      if (!material) {
        material = await generateRoot(options.trustDomain);
        if (store) material = await store.create(material);
        source = store ? `root generated into ${store.description}` : source;
      }
    }
    let certificate: x509.X509Certificate;
    let signingKey: webcrypto.CryptoKey;
    try {
      certificate = new x509.X509Certificate(material.certificatePem);
      signingKey = await importSigningKey(material.privateKeyPem);
    } catch (error) {
      if (error instanceof CertificateAuthorityError) throw error;
      throw new CertificateAuthorityError(`the CA certificate or key (${source}) cannot be used: ${(error as Error).message}`, { source }, { cause: error });
    }
    const basic = certificate.getExtension(x509.BasicConstraintsExtension);
    if (!basic?.ca) throw new CertificateAuthorityError(`the CA certificate (${source}) is not a CA certificate (basicConstraints CA:TRUE is missing)`, { source });
    if (certificate.notAfter.getTime() <= now()) throw new CertificateAuthorityError(`the CA certificate (${source}) expired at ${certificate.notAfter.toISOString()}`, { source });
    return new CertificateAuthority(options.trustDomain, certificate, signingKey, material.chainPem ?? '', source, now);
  }

  get expiresAt(): Date {
    return this.certificate.notAfter;
  }

  /** A fresh key and a certificate for one service account, valid `ttlMs` (never past the CA's own expiry). */
  async issue(namespace: string, serviceAccount: string, ttlMs: number): Promise<WorkloadCertificate> {
    const spiffeId = spiffeUri(this.trustDomain, namespace, serviceAccount);
    const keys = (await webcrypto.subtle.generateKey(algorithm, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
    const now = this.#now();
    const notBefore = new Date(now - clockSkewMs);
    const notAfter = new Date(Math.min(now + ttlMs, this.certificate.notAfter.getTime()));
    const serialNumber = randomBytes(16).toString('hex').replace(/^[89a-f]/, '1');
    const leaf = await x509.X509CertificateGenerator.create({
      serialNumber,
      // SPIFFE X.509-SVIDs carry their identity in the URI SAN; the subject is informational.
      subject: `O=sluice, CN=${serviceAccount}.${namespace}`,
      issuer: this.certificate.subject,
      notBefore,
      notAfter,
      publicKey: keys.publicKey,
      signingKey: this.#signingKey,
      signingAlgorithm: algorithm,
      extensions: [
        new x509.BasicConstraintsExtension(false, undefined, true),
        new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
        new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth, x509.ExtendedKeyUsage.clientAuth]),
        new x509.SubjectAlternativeNameExtension([{ type: 'url', value: spiffeId }], true),
        await x509.AuthorityKeyIdentifierExtension.create(this.certificate),
      ],
    });
    const chain = [leaf.toString('pem'), ...(this.#chainPem ? [this.certificate.toString('pem'), this.#chainPem.trim()] : [])].join('\n');
    return { spiffeId, certificateChainPem: `${chain.trim()}\n`, privateKeyPem: await privateKeyPem(keys.privateKey), notBefore, issuedAt: new Date(now), notAfter, serialNumber };
  }

  /** What logs and debug output may show. */
  toJSON(): Record<string, unknown> {
    return { trustDomain: this.trustDomain, subject: this.certificate.subject, expiresAt: this.expiresAt.toISOString(), source: this.source };
  }

  [inspect.custom](): string {
    return `CertificateAuthority ${JSON.stringify(this.toJSON())}`;
  }
}
