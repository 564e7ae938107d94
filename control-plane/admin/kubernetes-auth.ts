/**
 * Kubernetes mode: the API server decides who may change things, the way
 * kube-rbac-proxy and aggregated API servers delegate it.
 *
 * 1. TokenReview: whose is the bearer token (a user's, an OIDC one, a
 *    `kubectl create token` service-account token…)?
 * 2. SubjectAccessReview: may that user do the AdminAction, e.g. verb
 *    `promote` on `canaries.sluice.dev` `shop/orders`? RBAC rules name these
 *    verbs (`promote`, `abort`, `pause`, `resume`; see examples/deploy/rbac.yaml).
 *
 * Both reviews are API requests of the control plane's service account (which
 * needs `create` on tokenreviews and subjectaccessreviews, as granted by the
 * built-in ClusterRole system:auth-delegator), so they show in the API
 * server's audit log. TokenReview answers are kept for 10 s (by the token's
 * SHA-256), so a client repeating a bad token cannot turn the admin port into
 * a TokenReview flood; authorization is never cached, so a removed binding
 * takes effect at once.
 */
import { createHash } from 'node:crypto';
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig, type V1UserInfo } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { AdminAccessError, describeAction, type AdminAction, type AdminAuthenticator, type AdminPrincipal } from './auth.js';

const TOKEN_REVIEW_TTL_MS = 10_000;
const TOKEN_REVIEW_CACHE_SIZE = 1000;

type TokenReviewResult = { readonly user: V1UserInfo } | { readonly error: string };

export class KubernetesAdminAuthenticator implements AdminAuthenticator {
  readonly description = 'Kubernetes TokenReview and SubjectAccessReview';
  readonly #authentication: AuthenticationV1Api;
  readonly #authorization: AuthorizationV1Api;
  readonly #reviewed = new Map<string, { readonly result: TokenReviewResult; readonly until: number }>();

  constructor(kubeConfig: KubeConfig, private readonly logger: Logger) {
    this.#authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.#authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
  }

  async check(token: string | undefined, action: AdminAction): Promise<AdminPrincipal> {
    if (token === undefined) {
      throw new AdminAccessError(401, 'this admin endpoint needs Authorization: Bearer <token>: a Kubernetes token whose user RBAC allows it (e.g. `kubectl create token <service-account>`)');
    }
    const reviewed = await this.#reviewToken(token);
    if ('error' in reviewed) throw new AdminAccessError(401, `the API server did not accept the bearer token${reviewed.error ? `: ${reviewed.error}` : ''}`);
    const user = reviewed.user as V1UserInfo & { username: string };
    const access = await this.#authorization
      .createSubjectAccessReview({
        body: {
          apiVersion: 'authorization.k8s.io/v1',
          kind: 'SubjectAccessReview',
          spec: {
            user: user.username,
            uid: user.uid,
            groups: user.groups,
            extra: user.extra,
            resourceAttributes: { verb: action.verb, group: action.group, resource: action.resource, subresource: action.subresource, namespace: action.namespace, name: action.name },
          },
        },
      })
      .catch((error: unknown) => {
        throw this.#unavailable('SubjectAccessReview', error);
      });
    if (!access.status?.allowed) {
      throw new AdminAccessError(403, `${user.username} may not ${describeAction(action)}${access.status?.reason ? ` (${access.status.reason})` : ''}: grant the verb in a Role (see examples/deploy/rbac.yaml)`, { user: user.username });
    }
    return { user: user.username, groups: user.groups ?? [] };
  }

  async #reviewToken(token: string): Promise<TokenReviewResult> {
    const key = createHash('sha256').update(token).digest('base64');
    const now = Date.now();
    const cached = this.#reviewed.get(key);
    if (cached && cached.until > now) return cached.result;
    const review = await this.#authentication.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } }).catch((error: unknown) => {
      throw this.#unavailable('TokenReview', error);
    });
    const user = review.status?.user;
    const result: TokenReviewResult = review.status?.authenticated && user?.username ? { user } : { error: review.status?.error ?? '' };
    this.#reviewed.delete(key);
    if (this.#reviewed.size >= TOKEN_REVIEW_CACHE_SIZE) this.#reviewed.delete(this.#reviewed.keys().next().value!);
    this.#reviewed.set(key, { result, until: now + TOKEN_REVIEW_TTL_MS });
    return result;
  }

  /** The API server could not be asked: refuse (never allow) and say it is temporary. */
  #unavailable(review: string, error: unknown): AdminAccessError {
    const message = (error as Error).message?.split('\n')[0] ?? String(error);
    this.logger.warn({ err: error, review }, 'cannot verify an admin request with the API server');
    return new AdminAccessError(503, `cannot verify the request: ${review} failed: ${message}`);
  }
}
