/**
 * How a proxy proves which service account it runs as before the CA signs a
 * certificate for it. What the proxy *claims* (node metadata) is never enough
 * on its own outside local development.
 *
 * - Kubernetes: the pod's projected service-account token, sent as
 *   `authorization: Bearer <token>` on the ADS stream, checked with a
 *   TokenReview for the audience `sluice`; the API server's answer names the
 *   namespace and service account.
 * - A client certificate on the xDS channel (`--xds-client-ca`) whose SPIFFE
 *   ID the xDS server already checked (trust domain included): the proxy
 *   renews with the identity it already holds.
 * - Development only (`--identity-trust-node-metadata`): node metadata
 *   `serviceAccount`, in the namespace the xDS server authenticated.
 * The first verifier that recognises a proof decides; without any, no
 * certificate is issued.
 */
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, type KubeConfig } from '@kubernetes/client-node';
import { SluiceError } from '../core/errors.js';

export interface WorkloadIdentity {
  readonly namespace: string;
  readonly serviceAccount: string;
}

/** What an xDS stream knows about its peer. */
export interface IdentityEvidence {
  readonly nodeId: string;
  /** The namespace the xDS server serves this proxy (from its certificate when xDS uses mTLS). */
  readonly namespace: string;
  readonly metadata: Readonly<Record<string, unknown>>;
  /** From the xDS client certificate's SPIFFE ID, already checked against the trust domain. */
  readonly certified?: WorkloadIdentity;
  /** The bearer token of the ADS call, if any. */
  readonly bearerToken?: string;
}

export class IdentityProofError extends SluiceError {
  constructor(message: string, context: Record<string, unknown> = {}, options?: { cause?: unknown }) {
    super('identity-unproven', message, context, options);
  }
}

export interface IdentityVerifier {
  readonly description: string;
  /** The proven identity, undefined when this verifier sees no proof of its kind; throws when a proof is wrong. */
  verify(evidence: IdentityEvidence): Promise<WorkloadIdentity | undefined>;
}

const serviceAccountPattern = /^[a-z0-9]([-.a-z0-9]*[a-z0-9])?$/;

export class ClientCertificateVerifier implements IdentityVerifier {
  readonly description = 'xDS client certificate';

  async verify(evidence: IdentityEvidence): Promise<WorkloadIdentity | undefined> {
    return evidence.certified;
  }
}

export class NodeMetadataVerifier implements IdentityVerifier {
  readonly description = 'node metadata serviceAccount (development only: not a proof)';

  async verify(evidence: IdentityEvidence): Promise<WorkloadIdentity | undefined> {
    const claimed = evidence.metadata.serviceAccount;
    if (typeof claimed !== 'string') return undefined;
    if (!serviceAccountPattern.test(claimed)) throw new IdentityProofError(`node ${evidence.nodeId}: metadata.serviceAccount ${JSON.stringify(claimed.slice(0, 64))} is not a service account name`);
    return { namespace: evidence.namespace, serviceAccount: claimed };
  }
}

const reviewTtlMs = 10_000;
const reviewCacheSize = 10_000;

/** `system:serviceaccount:<namespace>:<name>`, the user name Kubernetes gives service-account tokens. */
export function serviceAccountOfUsername(username: string | undefined): WorkloadIdentity | undefined {
  const match = /^system:serviceaccount:([^:]+):([^:]+)$/.exec(username ?? '');
  return match ? { namespace: match[1]!, serviceAccount: match[2]! } : undefined;
}

export class TokenReviewVerifier implements IdentityVerifier {
  readonly description: string;
  readonly #authentication: AuthenticationV1Api;
  /** Answers kept briefly by the token's hash (never the token): a fleet restarting is not a TokenReview flood. */
  readonly #reviewed = new Map<string, { identity: WorkloadIdentity | string; until: number }>();

  constructor(kubeConfig: KubeConfig, private readonly audience = 'sluice') {
    this.#authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.description = `service-account token (TokenReview, audience ${audience})`;
  }

  async verify(evidence: IdentityEvidence): Promise<WorkloadIdentity | undefined> {
    if (!evidence.bearerToken) return undefined;
    const key = createHash('sha256').update(evidence.bearerToken).digest('base64');
    const now = Date.now();
    let cached = this.#reviewed.get(key);
    if (!cached || cached.until <= now) {
      const review = await this.#authentication
        .createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token: evidence.bearerToken, audiences: [this.audience] } } })
        .catch((error: unknown) => {
          throw new IdentityProofError(`node ${evidence.nodeId}: TokenReview failed: ${(error as Error).message?.split('\n')[0] ?? String(error)}`, { nodeId: evidence.nodeId }, { cause: error });
        });
      const identity = review.status?.authenticated ? serviceAccountOfUsername(review.status.user?.username) : undefined;
      cached = { identity: identity ?? (review.status?.error || 'not a service-account token'), until: now + reviewTtlMs };
      if (this.#reviewed.size >= reviewCacheSize) this.#reviewed.delete(this.#reviewed.keys().next().value!);
      this.#reviewed.set(key, cached);
    }
    if (typeof cached.identity === 'string') throw new IdentityProofError(`node ${evidence.nodeId}: the token was refused: ${cached.identity}`, { nodeId: evidence.nodeId });
    if (cached.identity.namespace !== evidence.namespace) {
      throw new IdentityProofError(`node ${evidence.nodeId}: the token is service account ${cached.identity.namespace}/${cached.identity.serviceAccount}, not of namespace ${evidence.namespace} this proxy is served`, { nodeId: evidence.nodeId });
    }
    return cached.identity;
  }
}

/** Verifiers tried in order; the first that sees a proof decides. */
export async function proveIdentity(verifiers: readonly IdentityVerifier[], evidence: IdentityEvidence): Promise<WorkloadIdentity> {
  for (const verifier of verifiers) {
    const identity = await verifier.verify(evidence);
    if (identity) return identity;
  }
  throw new IdentityProofError(`node ${evidence.nodeId}: no proof of a service account (accepted: ${verifiers.map((v) => v.description).join('; ') || 'none configured'})`, { nodeId: evidence.nodeId });
}
