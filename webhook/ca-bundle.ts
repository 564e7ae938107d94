/**
 * The webhook's serving certificate, managed in the cluster the way istiod and
 * linkerd manage theirs: a self-signed CA and a serving certificate kept in
 * one Secret (`kubernetes.io/tls` plus `ca.crt`/`ca.key`), and the CA pasted
 * into the MutatingWebhookConfiguration's `caBundle` by the webhook itself, so
 * nobody copies base64 by hand and nothing expires unnoticed.
 *
 * - Every replica reconciles; they agree through optimistic concurrency (the
 *   Secret is created once — a loser of the create race reads the winner's —
 *   and replaced only with the resourceVersion it read).
 * - The serving certificate is renewed when a third of its life is left; the
 *   CA likewise. A new CA is added to `ca.crt` next to the old one (which
 *   stays until it expires), and `caBundle` is patched *before* any replica
 *   serves a certificate from it, so the API server trusts every replica
 *   throughout a rotation.
 * - Only webhooks whose `clientConfig.service` is ours are patched; the rest
 *   of the configuration (selectors, failurePolicy) stays the user's.
 */
// @peculiar/x509 resolves its services through tsyringe, which needs the Reflect metadata polyfill loaded first.
import 'reflect-metadata';
import { webcrypto } from 'node:crypto';
import * as x509 from '@peculiar/x509';
import { AdmissionregistrationV1Api, CoreV1Api, type KubeConfig, type V1MutatingWebhookConfiguration, type V1Secret } from '@kubernetes/client-node';
import type { Logger } from 'pino';
import { SluiceError } from '../control-plane/core/errors.js';

x509.cryptoProvider.set(webcrypto as unknown as Parameters<typeof x509.cryptoProvider.set>[0]);

const ALGORITHM = { name: 'ECDSA', namedCurve: 'P-256', hash: 'SHA-256' } as const;
const DAY_MS = 86_400_000;
/** Nodes' clocks disagree a little; certificates start this much in the past. */
const CLOCK_SKEW_MS = 5 * 60_000;
/** Optimistic-concurrency retries before giving up until the next reconcile. */
const MAX_ATTEMPTS = 5;

export class WebhookCertificateError extends SluiceError {
  constructor(message: string, context: Record<string, unknown>, options?: { cause?: unknown }) {
    super('webhook-certificate', message, context, options);
  }
}

export interface WebhookCertificateOptions {
  readonly kubeConfig: KubeConfig;
  /** Namespace of the Secret and of the webhook's Service. */
  readonly namespace: string;
  /** Secret holding the CA and the serving certificate, e.g. `sluice-webhook-tls`. */
  readonly secretName: string;
  /** The webhook's Service: the certificate's DNS names, and which webhooks' caBundle is ours. */
  readonly service: string;
  /**
   * MutatingWebhookConfiguration whose caBundle is patched, e.g.
   * `sluice-sidecar-injector`; none for a certificate served to others (the
   * control plane's xDS certificate, whose CA goes into injected bootstraps).
   */
  readonly webhookConfiguration?: string;
  readonly log: Logger;
  /** Serving certificate lifetime; default 90 days. */
  readonly certificateValidityMs?: number;
  /** CA lifetime; default 10 years. */
  readonly caValidityMs?: number;
  /** The clock (tests move it to force rotations). */
  readonly now?: () => number;
}

/** What the HTTPS server needs, and what the API server must trust. */
export interface ServingMaterial {
  readonly certPem: string;
  readonly keyPem: string;
  /** PEM of every CA still trusted (the current one first). */
  readonly caBundlePem: string;
  /** Secret resourceVersion this came from: a change means reload. */
  readonly version: string;
}

interface Authority {
  readonly cert: x509.X509Certificate;
  readonly key: webcrypto.CryptoKey;
  readonly keyPem: string;
}

const pem = (data: Record<string, string> | undefined, key: string) => (data?.[key] ? Buffer.from(data[key]!, 'base64').toString('utf8') : undefined);
const b64 = (text: string) => Buffer.from(text, 'utf8').toString('base64');
const statusOf = (error: unknown) => (error as { code?: unknown })?.code;

/** The DNS names the API server dials for a Service-backed webhook. */
export function webhookDnsNames(service: string, namespace: string): string[] {
  return [`${service}.${namespace}.svc`, `${service}.${namespace}.svc.cluster.local`, `${service}.${namespace}`, service];
}

function randomSerial(): string {
  const bytes = webcrypto.getRandomValues(new Uint8Array(16));
  bytes[0] = bytes[0]! & 0x7f; // a positive INTEGER
  return Buffer.from(bytes).toString('hex');
}

async function exportKey(key: webcrypto.CryptoKey): Promise<string> {
  return x509.PemConverter.encode(await webcrypto.subtle.exportKey('pkcs8', key), 'PRIVATE KEY');
}

async function importKey(keyPem: string): Promise<webcrypto.CryptoKey> {
  return webcrypto.subtle.importKey('pkcs8', x509.PemConverter.decodeFirst(keyPem), ALGORITHM, true, ['sign']);
}

async function createAuthority(now: number, validityMs: number): Promise<Authority> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.createSelfSigned({
    serialNumber: randomSerial(),
    // A distinct subject per CA, so old and new CAs in one bundle are told apart.
    name: `CN=sluice-webhook-ca-${new Date(now).toISOString().slice(0, 10)}-${randomSerial().slice(0, 8)}, O=sluice`,
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(now + validityMs),
    signingAlgorithm: ALGORITHM,
    keys,
    extensions: [
      new x509.BasicConstraintsExtension(true, 0, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.keyCertSign | x509.KeyUsageFlags.cRLSign, true),
      await x509.SubjectKeyIdentifierExtension.create(keys.publicKey),
    ],
  });
  return { cert, key: keys.privateKey, keyPem: await exportKey(keys.privateKey) };
}

async function issueServingCertificate(ca: Authority, dnsNames: readonly string[], now: number, validityMs: number): Promise<{ certPem: string; keyPem: string }> {
  const keys = (await webcrypto.subtle.generateKey(ALGORITHM, true, ['sign', 'verify'])) as webcrypto.CryptoKeyPair;
  const cert = await x509.X509CertificateGenerator.create({
    serialNumber: randomSerial(),
    subject: `CN=${dnsNames[0]}`,
    issuer: ca.cert.subject,
    // Never outlive the CA that signs it.
    notBefore: new Date(now - CLOCK_SKEW_MS),
    notAfter: new Date(Math.min(now + validityMs, ca.cert.notAfter.getTime())),
    signingAlgorithm: ALGORITHM,
    publicKey: keys.publicKey,
    signingKey: ca.key,
    extensions: [
      new x509.BasicConstraintsExtension(false, undefined, true),
      new x509.KeyUsagesExtension(x509.KeyUsageFlags.digitalSignature | x509.KeyUsageFlags.keyEncipherment, true),
      new x509.ExtendedKeyUsageExtension([x509.ExtendedKeyUsage.serverAuth]),
      new x509.SubjectAlternativeNameExtension(dnsNames.map((value) => ({ type: 'dns' as const, value }))),
      await x509.AuthorityKeyIdentifierExtension.create(ca.cert.publicKey),
    ],
  });
  return { certPem: cert.toString('pem'), keyPem: await exportKey(keys.privateKey) };
}

async function keyMatches(key: webcrypto.CryptoKey, cert: x509.X509Certificate): Promise<boolean> {
  const probe = webcrypto.getRandomValues(new Uint8Array(32));
  const signature = await webcrypto.subtle.sign(ALGORITHM, key, probe);
  const publicKey = await cert.publicKey.export(ALGORITHM, ['verify']);
  return webcrypto.subtle.verify(ALGORITHM, publicKey, signature, probe);
}

/** Renew when less than a third of the lifetime is left (cert-manager's default for renewBefore). */
function dueForRenewal(cert: x509.X509Certificate, now: number): boolean {
  const start = cert.notBefore.getTime();
  const end = cert.notAfter.getTime();
  return now >= end - (end - start) / 3;
}

function parseBundle(text: string | undefined): x509.X509Certificate[] {
  if (!text) return [];
  try {
    return x509.PemConverter.decode(text).map((der) => new x509.X509Certificate(der));
  } catch {
    return [];
  }
}

export class WebhookCertificateManager {
  readonly #options: WebhookCertificateOptions;
  readonly #core: CoreV1Api;
  readonly #admission: AdmissionregistrationV1Api;
  readonly #now: () => number;
  readonly #dnsNames: string[];
  #timer: NodeJS.Timeout | undefined;
  #running: Promise<void> | undefined;
  #stopped = true;

  constructor(options: WebhookCertificateOptions) {
    this.#options = options;
    this.#core = options.kubeConfig.makeApiClient(CoreV1Api);
    this.#admission = options.kubeConfig.makeApiClient(AdmissionregistrationV1Api);
    this.#now = options.now ?? Date.now;
    this.#dnsNames = webhookDnsNames(options.service, options.namespace);
  }

  /** Make the Secret current (create, renew, rotate) and return what it holds. */
  async ensureSecret(): Promise<ServingMaterial> {
    const { namespace, secretName: name } = this.#options;
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let existing: V1Secret | undefined;
      try {
        existing = await this.#core.readNamespacedSecret({ name, namespace });
      } catch (error) {
        if (statusOf(error) !== 404) throw this.#apiError(`cannot read Secret ${namespace}/${name}`, error);
      }
      const desired = await this.#desiredData(existing?.data);
      if (!desired.changed && existing) return this.#material(existing);
      const body: V1Secret = {
        apiVersion: 'v1',
        kind: 'Secret',
        // A Secret's type is immutable: keep the one it was created with.
        type: existing?.type ?? 'kubernetes.io/tls',
        metadata: {
          ...(existing?.metadata ?? {}),
          name,
          namespace,
          labels: { ...(existing?.metadata?.labels ?? {}), 'app.kubernetes.io/part-of': 'sluice', 'app.kubernetes.io/managed-by': 'sluice-webhook' },
        },
        data: desired.data,
      };
      try {
        const written = existing
          ? await this.#core.replaceNamespacedSecret({ name, namespace, body })
          : await this.#core.createNamespacedSecret({ namespace, body });
        this.#options.log.info({ secret: `${namespace}/${name}`, reason: desired.reason }, 'webhook serving certificate written');
        return this.#material(written);
      } catch (error) {
        // Another replica wrote first: start over from what it wrote.
        if (statusOf(error) === 409) continue;
        throw this.#apiError(`cannot write Secret ${namespace}/${name}`, error);
      }
    }
    throw new WebhookCertificateError(`Secret ${namespace}/${name} kept changing under us (${MAX_ATTEMPTS} conflicts)`, { namespace, name });
  }

  /**
   * Put `caBundlePem` into every webhook of the configuration that calls our
   * Service. Returns false when the configuration does not exist yet (it is
   * applied after the webhook starts; the next reconcile tries again).
   */
  async patchCaBundle(caBundlePem: string): Promise<boolean> {
    const name = this.#options.webhookConfiguration;
    if (name === undefined) return true;
    const caBundle = b64(caBundlePem);
    for (let attempt = 1; attempt <= MAX_ATTEMPTS; attempt++) {
      let configuration: V1MutatingWebhookConfiguration;
      try {
        configuration = await this.#admission.readMutatingWebhookConfiguration({ name });
      } catch (error) {
        if (statusOf(error) === 404) {
          this.#options.log.info({ webhookConfiguration: name }, 'MutatingWebhookConfiguration not found yet; caBundle will be set when it exists');
          return false;
        }
        throw this.#apiError(`cannot read MutatingWebhookConfiguration ${name}`, error);
      }
      const ours = (configuration.webhooks ?? []).filter((w) => w.clientConfig.service?.name === this.#options.service && w.clientConfig.service?.namespace === this.#options.namespace);
      if (ours.length === 0) {
        throw new WebhookCertificateError(`MutatingWebhookConfiguration ${name} has no webhook calling Service ${this.#options.namespace}/${this.#options.service}`, { name, service: this.#options.service });
      }
      if (ours.every((w) => w.clientConfig.caBundle === caBundle)) return true;
      for (const webhook of ours) webhook.clientConfig.caBundle = caBundle;
      try {
        await this.#admission.replaceMutatingWebhookConfiguration({ name, body: configuration });
        this.#options.log.info({ webhookConfiguration: name, webhooks: ours.map((w) => w.name) }, 'caBundle patched');
        return true;
      } catch (error) {
        if (statusOf(error) === 409) continue;
        throw this.#apiError(`cannot update MutatingWebhookConfiguration ${name}`, error);
      }
    }
    throw new WebhookCertificateError(`MutatingWebhookConfiguration ${name} kept changing under us (${MAX_ATTEMPTS} conflicts)`, { name });
  }

  /**
   * One reconcile: the Secret first, then caBundle, and only then the new
   * certificate is handed to `serve` — the API server already trusts its CA.
   */
  async reconcile(serve: (material: ServingMaterial) => void): Promise<ServingMaterial> {
    const material = await this.ensureSecret();
    await this.patchCaBundle(material.caBundlePem);
    serve(material);
    return material;
  }

  /**
   * Reconcile every `intervalMs` (failures are logged and retried next time);
   * `serve` is called only when the Secret changed since `servedVersion`.
   */
  start(serve: (material: ServingMaterial) => void, intervalMs: number, servedVersion = ''): void {
    let served = servedVersion;
    this.#stopped = false;
    const tick = async (): Promise<void> => {
      try {
        await this.reconcile((material) => {
          if (material.version === served) return;
          served = material.version;
          serve(material);
        });
      } catch (error) {
        this.#options.log.warn({ err: error }, 'webhook certificate reconcile failed; retrying');
      }
      if (this.#stopped) return;
      this.#timer = setTimeout(() => {
        this.#running = tick();
      }, intervalMs);
      this.#timer.unref();
    };
    this.#running = tick();
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#running;
  }

  async #desiredData(data: Record<string, string> | undefined): Promise<{ changed: boolean; reason: string; data: Record<string, string> }> {
    const now = this.#now();
    const certificateValidityMs = this.#options.certificateValidityMs ?? 90 * DAY_MS;
    const caValidityMs = this.#options.caValidityMs ?? 3650 * DAY_MS;
    const reasons: string[] = [];

    let authority: Authority | undefined;
    const [caCert] = parseBundle(pem(data, 'ca.crt'));
    const caKeyPem = pem(data, 'ca.key');
    if (caCert && caKeyPem) {
      try {
        const key = await importKey(caKeyPem);
        // A key that is not the CA's would sign certificates nobody trusts, again at every reconcile.
        if (await keyMatches(key, caCert)) authority = { cert: caCert, key, keyPem: caKeyPem };
        else reasons.push('CA key does not match the CA certificate');
      } catch {
        reasons.push('CA key unreadable');
      }
    } else reasons.push(data ? 'CA missing' : 'no Secret');
    if (authority && dueForRenewal(authority.cert, now)) {
      reasons.push('CA due for rotation');
      authority = undefined;
    }
    const previous = parseBundle(pem(data, 'ca.crt'));
    if (!authority) authority = await createAuthority(now, caValidityMs);
    // The current CA first, then older ones until they expire.
    const bundle = [authority.cert, ...previous.filter((c) => !c.equal(authority!.cert) && c.notAfter.getTime() > now)];

    let certPem = pem(data, 'tls.crt');
    let keyPem = pem(data, 'tls.key');
    const [leaf] = parseBundle(certPem);
    const leafReason = !leaf || !keyPem ? 'serving certificate missing'
      : !(await leaf.verify({ publicKey: authority.cert.publicKey, signatureOnly: true }).catch(() => false)) ? 'serving certificate not from the current CA'
      : dueForRenewal(leaf, now) ? 'serving certificate due for renewal'
      : !this.#dnsNames.every((n) => leaf.getExtension(x509.SubjectAlternativeNameExtension)?.names.items.some((item) => item.type === 'dns' && item.value === n)) ? 'serving certificate names differ'
      : undefined;
    if (leafReason) {
      reasons.push(leafReason);
      ({ certPem, keyPem } = await issueServingCertificate(authority, this.#dnsNames, now, certificateValidityMs));
    }
    const next = {
      'tls.crt': b64(certPem!),
      'tls.key': b64(keyPem!),
      'ca.crt': b64(bundle.map((c) => c.toString('pem')).join('\n')),
      'ca.key': b64(authority.keyPem),
    };
    const changed = !data || Object.entries(next).some(([k, v]) => data[k] !== v);
    return { changed, reason: reasons.join(', ') || 'expired CA dropped from the bundle', data: next };
  }

  #material(secret: V1Secret): ServingMaterial {
    const data = secret.data ?? {};
    return { certPem: pem(data, 'tls.crt')!, keyPem: pem(data, 'tls.key')!, caBundlePem: pem(data, 'ca.crt')!, version: secret.metadata?.resourceVersion ?? '' };
  }

  #apiError(message: string, error: unknown): WebhookCertificateError {
    const body = (error as { body?: unknown })?.body;
    const detail = typeof body === 'string' ? body.slice(0, 300) : error instanceof Error ? error.message.split('\n')[0] : String(error);
    return new WebhookCertificateError(`${message}: HTTP ${String(statusOf(error) ?? '?')}: ${detail}`, { status: statusOf(error) }, { cause: error });
  }
}
