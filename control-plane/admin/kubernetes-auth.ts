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
 * server's audit log. Nothing is cached: commands are rare, and a revoked
 * binding takes effect at once.
 */
import { AuthenticationV1Api, AuthorizationV1Api, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { AdminAccessError, describeAction, type AdminAction, type AdminAuthenticator, type AdminPrincipal } from './auth.js';

export class KubernetesAdminAuthenticator implements AdminAuthenticator {
  readonly description = 'Kubernetes TokenReview and SubjectAccessReview';
  readonly #authentication: AuthenticationV1Api;
  readonly #authorization: AuthorizationV1Api;

  constructor(kubeConfig: KubeConfig, private readonly logger: Logger) {
    this.#authentication = kubeConfig.makeApiClient(AuthenticationV1Api);
    this.#authorization = kubeConfig.makeApiClient(AuthorizationV1Api);
  }

  async check(token: string | undefined, action: AdminAction): Promise<AdminPrincipal> {
    if (token === undefined) {
      throw new AdminAccessError(401, 'this admin endpoint needs Authorization: Bearer <token>: a Kubernetes token whose user RBAC allows it (e.g. `kubectl create token <service-account>`)');
    }
    const review = await this.#authentication.createTokenReview({ body: { apiVersion: 'authentication.k8s.io/v1', kind: 'TokenReview', spec: { token } } }).catch((error: unknown) => {
      throw this.#unavailable('TokenReview', error);
    });
    const user = review.status?.user;
    if (!review.status?.authenticated || !user?.username) {
      throw new AdminAccessError(401, `the API server did not accept the bearer token${review.status?.error ? `: ${review.status.error}` : ''}`);
    }
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

  /** The API server could not be asked: refuse (never allow) and say it is temporary. */
  #unavailable(review: string, error: unknown): AdminAccessError {
    const message = (error as Error).message?.split('\n')[0] ?? String(error);
    this.logger.warn({ err: error, review }, 'cannot verify an admin request with the API server');
    return new AdminAccessError(503, `cannot verify the request: ${review} failed: ${message}`);
  }
}
