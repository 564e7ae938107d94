/**
 * Kubernetes mode: the Canary's own status is the state (so `kubectl get
 * canaries` shows it and a new leader resumes from it), written through the
 * source's StatusWriter (leader only, conflict-safe), and every transition is
 * an Event on the Canary.
 *
 * The Paused phase's "resume to" is kept in a `Paused` condition's reason:
 * the status schema has no field for it, and a condition is where Kubernetes
 * users look for such detail.
 */
import { CustomObjectsApi, type KubeConfig } from '@kubernetes/client-node';
import type { CanaryPhase, CanaryStatus } from '../api/types.js';
import type { StatusWriter } from '../sources/kubernetes-status.js';
import { canaryKey, parseState, type CanaryPersistence } from './persistence.js';
import type { CanaryState } from './state-machine.js';

export interface KubernetesPersistenceOptions {
  readonly kubeConfig: KubeConfig;
  readonly statusWriter: StatusWriter;
  readonly isLeader: () => boolean;
  readonly namespaces?: readonly string[];
}

type CanaryObject = { metadata?: { name?: string; namespace?: string; uid?: string }; status?: CanaryStatus };

export function statusOf(state: CanaryState, generation?: number): CanaryStatus {
  const paused = state.phase === 'Paused';
  return {
    phase: state.phase,
    canaryWeight: state.canaryWeight,
    stepIndex: state.stepIndex,
    failedChecks: state.failedChecks,
    canaryVersion: state.canaryVersion,
    lastTransitionTime: state.lastTransitionTime.replace(/\.\d{3}Z$/, 'Z'),
    message: state.message,
    ...(generation !== undefined ? { observedGeneration: generation } : {}),
    ...(state.lastCommand ? { lastCommand: { ...state.lastCommand, time: state.lastCommand.time.replace(/\.\d{3}Z$/, 'Z') } } : {}),
    conditions: [
      paused
        ? { type: 'Paused', status: 'True', reason: state.pausedFrom ?? 'Progressing', message: 'resume returns to this phase' }
        : { type: 'Paused', status: 'False', reason: 'Running' },
      { type: 'Promoted', status: state.phase === 'Succeeded' ? 'True' : state.phase === 'Failed' ? 'False' : 'Unknown', reason: state.phase },
      // Written only once finished, so canaries without spec.finish keep their two conditions.
      ...(state.finished ? [{ type: 'Finished', status: 'True' as const, reason: 'Finished', message: state.finished.message }] : []),
    ],
  };
}

export function stateOf(status: CanaryStatus | undefined): CanaryState | undefined {
  if (!status) return undefined;
  const paused = status.conditions?.find((c) => c.type === 'Paused' && c.status === 'True');
  const finished = status.conditions?.find((c) => c.type === 'Finished' && c.status === 'True');
  return parseState({
    ...status,
    pausedFrom: paused?.reason as CanaryPhase | undefined,
    ...(finished ? { finished: { time: finished.lastTransitionTime ?? '', message: finished.message ?? '' } } : {}),
  });
}

export class KubernetesCanaryPersistence implements CanaryPersistence {
  readonly description = 'Canary status (Kubernetes)';
  readonly #custom: CustomObjectsApi;

  constructor(private readonly options: KubernetesPersistenceOptions) {
    this.#custom = options.kubeConfig.makeApiClient(CustomObjectsApi);
  }

  async loadAll(): Promise<Map<string, CanaryState>> {
    const ref = { group: 'sluice.dev', version: 'v1alpha1', plural: 'canaries' };
    const lists = this.options.namespaces?.length
      ? await Promise.all(this.options.namespaces.map((namespace) => this.#custom.listNamespacedCustomObject({ ...ref, namespace })))
      : [await this.#custom.listClusterCustomObject(ref)];
    const states = new Map<string, CanaryState>();
    for (const list of lists as Array<{ items?: CanaryObject[] }>) {
      for (const item of list.items ?? []) {
        const state = stateOf(item.status);
        if (state && item.metadata?.namespace && item.metadata.name) states.set(canaryKey(item.metadata.namespace, item.metadata.name), state);
      }
    }
    return states;
  }

  async save(namespace: string, name: string, state: CanaryState, generation?: number): Promise<void> {
    await this.options.statusWriter.writeCanaryStatus(namespace, name, statusOf(state, generation));
  }

  async remove(): Promise<void> {
    // The object is gone, and its status with it.
  }

  async recordEvent(namespace: string, name: string, type: 'Normal' | 'Warning', reason: string, message: string): Promise<void> {
    if (!this.options.isLeader()) return;
    await this.options.statusWriter.events.record({ apiVersion: 'sluice.dev/v1alpha1', kind: 'Canary', namespace, name }, { type, reason, message, action: 'Analyse' });
  }
}
