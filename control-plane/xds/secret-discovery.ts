/**
 * SDS on the ADS stream: `type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.Secret`.
 *
 * Unlike every other type, secrets are per proxy identity and never go
 * through the shared cache: each stream proves its service account once
 * (identity/workload-identity.ts), then gets that identity's certificate
 * (`default`) and the mesh trust bundle (`ROOTCA`), and is re-sent both when
 * the certificate rotates. A proxy that cannot prove a service account gets
 * the trust bundle only, never a certificate.
 *
 * Both protocols are served; the responses are built per stream (a handful a
 * day per proxy), not pre-framed.
 */
import { createHash } from 'node:crypto';
import type { ServerDuplexStream } from '@grpc/grpc-js';
import { encodeResource } from '../envoy/codec.js';
import { typeUrlOf } from '../envoy/proto-registry.js';
import type { WorkloadCertificate } from '../identity/certificate-authority.js';
import type { WorkloadCertificates } from '../identity/workload-certificates.js';
import { IdentityProofError, proveIdentity, type IdentityVerifier, type WorkloadIdentity } from '../identity/workload-identity.js';
import { certificateSecretName, trustBundleSecretName } from '../translate/mtls.js';
import type { ProxyIdentity } from '../translate/proxy-scope.js';
import type { ProxyConnection } from './connections.js';
import { spiffeIdOfCertificate } from './proxy-authentication.js';
import { peerCertificate, type StreamContext } from './stream-context.js';
import { clipForLog } from './stream-limits.js';
import { encodeAny, encodeDeltaResource, encodeDeltaDiscoveryResponse, encodeDiscoveryResponse } from './wire.js';

const secretType = 'envoy.extensions.transport_sockets.tls.v3.Secret';
export const secretTypeUrl = typeUrlOf(secretType);

/** What the control plane needs to serve SDS: how proxies prove who they are, and the certificates. */
export interface SecretServing {
  readonly verifiers: readonly IdentityVerifier[];
  readonly certificates: WorkloadCertificates;
}

/** The request fields SDS reads, from a SotW or a delta request. */
interface SecretRequest {
  type_url?: string;
  resource_names?: string[];
  resource_names_subscribe?: string[];
  resource_names_unsubscribe?: string[];
  response_nonce?: string;
  error_detail?: { code?: number; message?: string } | null;
}

interface BuiltSecret {
  readonly name: string;
  readonly version: string;
  readonly any: Buffer;
}

function secretOf(name: string, body: Record<string, unknown>, versionSource: string): BuiltSecret {
  const version = createHash('sha256').update(versionSource).digest('hex').slice(0, 16);
  return { name, version, any: encodeAny(secretTypeUrl, encodeResource(secretType, { name, ...body })) };
}

export class SecretDiscovery {
  readonly #names = new Set<string>();
  /** Delta: what the proxy holds, name → version. SotW: the last version sent. */
  readonly #known = new Map<string, string>();
  #sentVersion?: string;
  #nonce = 0;
  #identity?: Promise<WorkloadIdentity | undefined>;
  #certificate?: WorkloadCertificate;
  #unsubscribe?: () => void;
  #closed = false;

  constructor(
    private readonly protocol: 'sotw' | 'delta',
    private readonly serving: SecretServing,
    private readonly context: StreamContext,
    private readonly call: ServerDuplexStream<unknown, Buffer>,
    private readonly proxy: ProxyIdentity,
    private readonly connection: ProxyConnection,
    /** The node metadata of the first request (the development-mode proof reads it). */
    private readonly nodeMetadata: Readonly<Record<string, unknown>>,
    private readonly write: (bytes: Buffer) => void,
  ) {}

  static isSecretRequest(request: { type_url?: string }): boolean {
    return request.type_url === secretTypeUrl;
  }

  handle(request: SecretRequest): void {
    // Only these two names are ever served; remembering others would let a stream grow memory without bound.
    const served = (names: readonly string[] | undefined) => (names ?? []).filter((name) => name === certificateSecretName || name === trustBundleSecretName);
    if (request.error_detail && (request.error_detail.code || request.error_detail.message)) {
      this.context.metrics.nacks.inc({ type: 'secrets' });
      this.context.logger.warn({ nodeId: clipForLog(this.proxy.nodeId), type: 'secrets', errorDetail: clipForLog(request.error_detail.message) }, 'proxy rejected a secret (NACK)');
    }
    let changed = false;
    if (this.protocol === 'sotw') {
      const names = new Set(served(request.resource_names));
      changed = names.size !== this.#names.size || [...names].some((name) => !this.#names.has(name));
      if (changed) {
        this.#names.clear();
        for (const name of names) this.#names.add(name);
        this.#sentVersion = undefined;
      }
    } else {
      for (const name of served(request.resource_names_subscribe)) {
        if (!this.#names.has(name)) changed = true;
        this.#names.add(name);
      }
      for (const name of served(request.resource_names_unsubscribe)) {
        this.#names.delete(name);
        this.#known.delete(name);
      }
    }
    if (changed) void this.#push();
  }

  close(): void {
    this.#closed = true;
    this.#unsubscribe?.();
  }

  /** Prove the identity once per stream; a failed proof is final for the stream (the proxy reconnects to retry). */
  #proven(): Promise<WorkloadIdentity | undefined> {
    this.#identity ??= (async () => {
      const spiffe = this.context.requireClientCertificate ? spiffeIdOfCertificate(peerCertificate(this.call as ServerDuplexStream<unknown, unknown>)) : undefined;
      const authorization = this.call.metadata.get('authorization')[0];
      const bearer = typeof authorization === 'string' && /^bearer /i.test(authorization) ? authorization.slice(7).trim() : undefined;
      try {
        return await proveIdentity(this.serving.verifiers, {
          nodeId: this.proxy.nodeId,
          namespace: this.proxy.namespace,
          metadata: this.nodeMetadata,
          ...(spiffe ? { certified: { namespace: spiffe.namespace, serviceAccount: spiffe.serviceAccount } } : {}),
          ...(bearer ? { bearerToken: bearer } : {}),
        });
      } catch (error) {
        if (!(error instanceof IdentityProofError)) throw error;
        this.serving.certificates.recordUnproven();
        this.context.logger.warn({ nodeId: clipForLog(this.proxy.nodeId), namespace: this.proxy.namespace, reason: error.message }, 'no workload certificate: the proxy did not prove its service account');
        return undefined;
      }
    })();
    return this.#identity;
  }

  async #push(): Promise<void> {
    try {
      const identity = this.#names.has(certificateSecretName) ? await this.#proven() : undefined;
      if (identity && !this.#certificate) {
        this.#certificate = await this.serving.certificates.certificateFor(identity);
        this.#unsubscribe ??= this.serving.certificates.subscribe(identity, (certificate) => {
          this.#certificate = certificate;
          void this.#push();
        });
      }
      if (this.#closed) return;
      this.#send(this.#build());
    } catch (error) {
      this.context.logger.error({ err: error, nodeId: clipForLog(this.proxy.nodeId) }, 'cannot serve secrets');
    }
  }

  #build(): BuiltSecret[] {
    const secrets: BuiltSecret[] = [];
    const certificate = this.#certificate;
    if (this.#names.has(certificateSecretName) && certificate) {
      this.connection.workloadCertificate = { spiffeId: certificate.spiffeId, notAfter: certificate.notAfter.toISOString() };
      secrets.push(secretOf(certificateSecretName, { tls_certificate: { certificate_chain: { inline_string: certificate.certificateChainPem }, private_key: { inline_string: certificate.privateKeyPem } } }, certificate.serialNumber));
    }
    if (this.#names.has(trustBundleSecretName)) {
      const bundle = this.serving.certificates.authority.trustBundlePem;
      secrets.push(secretOf(trustBundleSecretName, { validation_context: { trusted_ca: { inline_string: bundle } } }, bundle));
    }
    return secrets;
  }

  #send(secrets: BuiltSecret[]): void {
    const nonce = String(++this.#nonce);
    if (this.protocol === 'sotw') {
      const version = secrets.map((s) => `${s.name}:${s.version}`).join(',') || 'empty';
      if (version === this.#sentVersion) return;
      this.#sentVersion = version;
      this.context.metrics.pushes.inc({ type: 'secrets' });
      this.write(encodeDiscoveryResponse(version, secretTypeUrl, secrets.map((s) => s.any), nonce));
      return;
    }
    const changed = secrets.filter((s) => this.#known.get(s.name) !== s.version);
    if (changed.length === 0) return;
    for (const secret of changed) this.#known.set(secret.name, secret.version);
    this.context.metrics.pushes.inc({ type: 'secrets' });
    this.write(encodeDeltaDiscoveryResponse('', secretTypeUrl, changed.map((s) => encodeDeltaResource(s.name, s.version, s.any)), [], nonce));
  }
}
