/**
 * Kubernetes Events, recorded one way for every writer (the source's
 * rejections, the canary controller's transitions). Events are best effort:
 * a condition or status always carries the same information, so a failed
 * write is logged and never fails the caller.
 */
import { CoreV1Api, type CoreV1Event, type KubeConfig } from '@kubernetes/client-node';
import type { Logger } from '../log/logger.js';
import { describeApiError } from './kubernetes-informers.js';

export interface InvolvedObject {
  readonly apiVersion: string;
  readonly kind: string;
  readonly namespace: string;
  readonly name: string;
  readonly uid?: string;
  readonly resourceVersion?: string;
}

export interface EventRecorderOptions {
  readonly config: KubeConfig;
  readonly logger: Logger;
  /** Events are written only while this is true (leader election). */
  readonly isLeader: () => boolean;
  /** `reportingInstance` (the pod name). */
  readonly identity: string;
}

export interface EventToRecord {
  readonly type: 'Normal' | 'Warning';
  readonly reason: string;
  readonly message: string;
  /** What the controller was doing: `Validate`, `Analyse`… */
  readonly action: string;
}

export class EventRecorder {
  readonly #core: CoreV1Api;

  constructor(private readonly options: EventRecorderOptions) {
    this.#core = options.config.makeApiClient(CoreV1Api);
  }

  /** Create one Event; resolves to whether it was written (false when not leading or the write failed). */
  async record(object: InvolvedObject, event: EventToRecord): Promise<boolean> {
    if (!this.options.isLeader()) return false;
    const now = new Date();
    const body: CoreV1Event = {
      // Unique per call, like client-go's recorder: `<object>.<time in hex><random>`.
      metadata: { name: `${object.name}.${now.getTime().toString(16)}${Math.floor(Math.random() * 0x10000).toString(16)}`, namespace: object.namespace },
      involvedObject: { apiVersion: object.apiVersion, kind: object.kind, name: object.name, namespace: object.namespace, uid: object.uid, resourceVersion: object.resourceVersion },
      type: event.type,
      reason: event.reason,
      message: event.message,
      source: { component: 'sluice' },
      reportingComponent: 'sluice.dev/control-plane',
      reportingInstance: this.options.identity,
      action: event.action,
      firstTimestamp: now,
      lastTimestamp: now,
      count: 1,
    };
    try {
      await this.#core.createNamespacedEvent({ namespace: object.namespace, body });
      return true;
    } catch (error) {
      this.options.logger.warn({ object: `${object.kind} ${object.namespace}/${object.name}`, reason: event.reason, err: describeApiError(error) }, 'could not record event');
      return false;
    }
  }
}
