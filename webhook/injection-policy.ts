/**
 * Whether a pod gets the sidecar. The API server's webhook selectors do the
 * coarse filtering (see examples/webhook/); these rules are the authority, so a
 * too-wide selector can never inject where it must not.
 *
 * Two policies, one per webhook entry:
 * - `enabled`: the namespace has `sluice.dev/inject=enabled`; inject unless
 *   the pod says `sluice.dev/inject: "false"`.
 * - `opt-in`: the namespace is not labelled; inject only a pod that says
 *   `sluice.dev/inject: "true"`.
 */
import { ANNOTATIONS, INJECT, parseInjectFlag } from './annotations.js';
import type { Pod } from './kube.js';
import { INIT_CONTAINER_NAME } from './init-container.js';
import { PROXY_CONTAINER_NAME } from './sidecar.js';

/** `offline` is `sluice inject`: no namespace to consult, inject unless the pod opts out (like istioctl kube-inject). */
export type NamespacePolicy = 'enabled' | 'opt-in' | 'offline';

export interface InjectionDecision {
  readonly inject: boolean;
  /** Why, in words a developer reading the webhook's log understands. */
  readonly reason: string;
  /** Shown by kubectl to whoever created the pod. */
  readonly warnings: readonly string[];
}

export interface PolicyContext {
  readonly namespace: string;
  readonly policy: NamespacePolicy;
  readonly excludeNamespaces: readonly string[];
}

/** The pod already carries the sidecar (ours, by name or by status annotation). */
export function alreadyInjected(pod: Pod): boolean {
  if (pod.metadata?.annotations?.[ANNOTATIONS.status] !== undefined) return true;
  const names = [...(pod.spec?.containers ?? []), ...(pod.spec?.initContainers ?? [])].map((c) => c.name);
  return names.includes(PROXY_CONTAINER_NAME) || names.includes(INIT_CONTAINER_NAME);
}

export function decideInjection(pod: Pod, ctx: PolicyContext): InjectionDecision {
  const warnings: string[] = [];
  const no = (reason: string): InjectionDecision => ({ inject: false, reason, warnings });

  if (alreadyInjected(pod)) return no('the pod already has the sluice sidecar');
  if (ctx.excludeNamespaces.includes(ctx.namespace)) return no(`namespace ${ctx.namespace} is excluded from injection by the webhook config`);
  // A host-network pod shares the node's network namespace: its iptables
  // rules would capture the whole node's traffic.
  if (pod.spec?.hostNetwork === true) return no('host-network pods are never injected');

  // The label wins over the annotation: it is what the webhook's objectSelector sees.
  const label = pod.metadata?.labels?.[INJECT];
  const annotation = pod.metadata?.annotations?.[INJECT];
  const raw = label ?? annotation;
  const explicit = parseInjectFlag(raw);
  if (raw !== undefined && explicit === undefined) {
    warnings.push(`${INJECT}: "${raw}" is not "true" or "false"; ignored`);
  }
  if (explicit === false) return no(`the pod opts out with ${INJECT}: "${raw}"`);
  if (explicit === true) return { inject: true, reason: `the pod opts in with ${INJECT}: "${raw}"`, warnings };
  if (ctx.policy === 'enabled') return { inject: true, reason: `namespace ${ctx.namespace} has ${INJECT}=enabled`, warnings };
  if (ctx.policy === 'offline') return { inject: true, reason: `injected offline; pods opt out with ${INJECT}: "false"`, warnings };
  return no(`namespace ${ctx.namespace} is not labelled ${INJECT}=enabled and the pod does not opt in`);
}
