/**
 * `spec.finish` in Kubernetes mode, like Flagger's promotion: once a canary
 * has succeeded, nobody has to edit the TrafficPolicy and scale the old
 * Deployment down by hand.
 *
 * 1. The TrafficPolicy of the service sends to the canary version what it
 *    sent to the stable one (each route's `to`: the stable share moves to the
 *    canary version); a policy without a catch-all route gets one to the
 *    canary version, because the default route spreads over every version.
 *    So deleting the Canary afterwards changes nothing.
 * 2. Only then the stable version's Deployment (`targetRef`) is scaled to 0:
 *    its pods stop taking traffic only after no route points at them.
 *
 * Both writes are read–modify–replace with the resourceVersion read, so a
 * concurrent edit gives 409 and the next interval tries again on fresh data;
 * each step is skipped when already done, so a retry after a crash is safe.
 */
import { AppsV1Api, CustomObjectsApi, type KubeConfig, type V1Deployment } from '@kubernetes/client-node';
import type { TrafficPolicySpec } from '../api/types.js';
import { SluiceError } from '../core/errors.js';
import type { Canary } from '../model/snapshot.js';
import { describeApiError } from '../sources/kubernetes-informers.js';
import type { CanaryFinisher } from './controller.js';

export class CanaryFinishError extends SluiceError {
  constructor(message: string, context: Record<string, unknown>, options?: { cause?: unknown }) {
    super('canary-finish', message, context, options);
  }
}

type Route = NonNullable<TrafficPolicySpec['routes']>[number];

/** The routes with the stable version's share given to the canary version; undefined when nothing changes. */
export function routesToCanary(spec: TrafficPolicySpec, stable: string, canary: string): Route[] | undefined {
  const routes = spec.routes ?? [];
  let changed = false;
  const next = routes.map((route) => {
    if (!route.to.some((d) => d.version === stable)) return route;
    changed = true;
    const weights = new Map<string, number>();
    for (const d of route.to) {
      const version = d.version === stable ? canary : d.version;
      weights.set(version, (weights.get(version) ?? 0) + (d.weight ?? 0));
    }
    return { ...route, to: [...weights].map(([version, weight]) => ({ version, weight })) };
  });
  if (!next.some((route) => route.match === undefined)) {
    changed = true;
    next.push({ name: 'sluice-finished', to: [{ version: canary, weight: 100 }] } as Route);
  }
  return changed ? next : undefined;
}

export class KubernetesCanaryFinisher implements CanaryFinisher {
  readonly #custom: CustomObjectsApi;
  readonly #apps: AppsV1Api;

  constructor(kubeConfig: KubeConfig) {
    this.#custom = kubeConfig.makeApiClient(CustomObjectsApi);
    this.#apps = kubeConfig.makeApiClient(AppsV1Api);
  }

  async finish(canary: Canary, policy: { readonly namespace: string; readonly name: string } | undefined): Promise<string> {
    const target = canary.spec.finish?.targetRef;
    if (!target) throw new CanaryFinishError('the Canary has no spec.finish.targetRef', { canary: `${canary.namespace}/${canary.name}` });
    if (!policy) throw new CanaryFinishError(`Service ${canary.namespace}/${canary.spec.service} has no TrafficPolicy to update`, { canary: `${canary.namespace}/${canary.name}` });
    const policyDone = await this.#pointPolicyAtCanary(policy, canary.spec.stable, canary.spec.canary);
    const scaled = await this.#scaleToZero(canary.namespace, target.name);
    return `TrafficPolicy ${policy.namespace}/${policy.name} ${policyDone ? `now sends ${canary.spec.stable}'s traffic to ${canary.spec.canary}` : `already sent no traffic to ${canary.spec.stable}`}; Deployment ${canary.namespace}/${target.name} ${scaled === 0 ? 'was already at 0 replicas' : `scaled from ${scaled} to 0 replicas`}`;
  }

  /** True when the policy was changed, false when it already was as wanted. */
  async #pointPolicyAtCanary(policy: { namespace: string; name: string }, stable: string, canary: string): Promise<boolean> {
    const ref = { group: 'sluice.dev', version: 'v1alpha1', plural: 'trafficpolicies', namespace: policy.namespace, name: policy.name };
    let object: { metadata?: { resourceVersion?: string }; spec?: TrafficPolicySpec };
    try {
      object = (await this.#custom.getNamespacedCustomObject(ref)) as typeof object;
    } catch (error) {
      throw new CanaryFinishError(`cannot read TrafficPolicy ${policy.namespace}/${policy.name}: ${describeApiError(error)}`, { policy }, { cause: error });
    }
    const routes = object.spec ? routesToCanary(object.spec, stable, canary) : undefined;
    if (!routes) return false;
    try {
      // The resourceVersion read goes back with it: a concurrent edit gets 409, not overwritten.
      await this.#custom.replaceNamespacedCustomObject({ ...ref, body: { ...object, spec: { ...object.spec, routes } } });
    } catch (error) {
      throw new CanaryFinishError(`cannot update TrafficPolicy ${policy.namespace}/${policy.name}: ${describeApiError(error)}`, { policy }, { cause: error });
    }
    return true;
  }

  /** The replicas it had (0: nothing to do). */
  async #scaleToZero(namespace: string, name: string): Promise<number> {
    let deployment: V1Deployment;
    try {
      deployment = await this.#apps.readNamespacedDeployment({ namespace, name });
    } catch (error) {
      throw new CanaryFinishError(`cannot read Deployment ${namespace}/${name} (spec.finish.targetRef): ${describeApiError(error)}`, { namespace, name }, { cause: error });
    }
    const replicas = deployment.spec?.replicas ?? 1;
    if (replicas === 0) return 0;
    try {
      await this.#apps.replaceNamespacedDeployment({ namespace, name, body: { ...deployment, spec: { ...deployment.spec!, replicas: 0 } } });
    } catch (error) {
      throw new CanaryFinishError(`cannot scale Deployment ${namespace}/${name} to 0: ${describeApiError(error)}`, { namespace, name }, { cause: error });
    }
    return replicas;
  }
}
