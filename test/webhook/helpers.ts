/**
 * Test fixtures shaped like what the API server really sends, and a model of
 * the kubelet's `$(VAR)` expansion so tests see the bootstrap Envoy will get.
 */
import { pino } from 'pino';
import jsonpatch from 'fast-json-patch';
import type { Operation } from 'fast-json-patch';
import type { Container, EnvVar, Pod } from '../../webhook/kube.js';
import { envoyProtoRoot, findEnvoyType } from '../../control-plane/envoy/proto-registry.js';
import { assertEnvoyResource } from '../../control-plane/envoy/validate-rules.js';

export const silentLog = pino({ level: 'silent' });

/** A pod as the ReplicaSet controller creates it for Deployment `orders`: generateName, owner, no name. */
export function deploymentPod(overrides: { annotations?: Record<string, string>; labels?: Record<string, string> } = {}): Pod {
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: {
      generateName: 'orders-7d9f8c6b5-',
      labels: { app: 'orders', version: 'v1', 'pod-template-hash': '7d9f8c6b5', ...overrides.labels },
      ...(overrides.annotations ? { annotations: overrides.annotations } : {}),
      ownerReferences: [
        { apiVersion: 'apps/v1', kind: 'ReplicaSet', name: 'orders-7d9f8c6b5', uid: '5b0e2a6e-1d1b-4d6f-9a57-1f0c6d2f9c11', controller: true, blockOwnerDeletion: true },
      ],
    },
    spec: {
      containers: [
        {
          name: 'orders',
          image: 'ghcr.io/carrier/orders:1.4.2',
          ports: [{ containerPort: 8080, protocol: 'TCP' }],
          resources: {},
          terminationMessagePath: '/dev/termination-log',
          terminationMessagePolicy: 'File',
          imagePullPolicy: 'IfNotPresent',
        },
      ],
      restartPolicy: 'Always',
      terminationGracePeriodSeconds: 30,
      dnsPolicy: 'ClusterFirst',
      serviceAccountName: 'default',
      securityContext: {},
      schedulerName: 'default-scheduler',
      enableServiceLinks: true,
      preemptionPolicy: 'PreemptLowerPriority',
    },
    status: {},
  };
}

export function namedPod(name: string, overrides: Partial<Pod['metadata']> & { hostNetwork?: boolean } = {}): Pod {
  const { hostNetwork, ...meta } = overrides;
  return {
    apiVersion: 'v1',
    kind: 'Pod',
    metadata: { name, namespace: 'shop', labels: { app: name }, ...meta },
    spec: { containers: [{ name: 'app', image: 'python:3.12-slim' }], ...(hostNetwork ? { hostNetwork } : {}) },
  };
}

let counter = 0;

/** The AdmissionReview an `admission.k8s.io/v1` API server posts for a pod CREATE. */
export function admissionReview(pod: Pod, options: { namespace?: string; uid?: string; dryRun?: boolean; operation?: string } = {}) {
  const namespace = options.namespace ?? 'shop';
  return {
    kind: 'AdmissionReview',
    apiVersion: 'admission.k8s.io/v1',
    request: {
      uid: options.uid ?? `0f5d5c0e-9c1a-4a4e-8f7a-${String(++counter).padStart(12, '0')}`,
      kind: { group: '', version: 'v1', kind: 'Pod' },
      resource: { group: '', version: 'v1', resource: 'pods' },
      requestKind: { group: '', version: 'v1', kind: 'Pod' },
      requestResource: { group: '', version: 'v1', resource: 'pods' },
      ...(pod.metadata?.name ? { name: pod.metadata.name } : {}),
      namespace,
      operation: options.operation ?? 'CREATE',
      userInfo: { username: 'system:serviceaccount:kube-system:replicaset-controller', uid: 'b7c1', groups: ['system:serviceaccounts', 'system:authenticated'] },
      object: pod,
      oldObject: null,
      dryRun: options.dryRun ?? false,
      options: { kind: 'CreateOptions', apiVersion: 'meta.k8s.io/v1' },
    },
  };
}

export function decodePatch(base64: string): Operation[] {
  return JSON.parse(Buffer.from(base64, 'base64').toString('utf8')) as Operation[];
}

/** Apply a JSONPatch the way the API server does: to a copy, validating every operation. */
export function applyPatch(pod: Pod, patch: Operation[]): Pod {
  return jsonpatch.applyPatch(structuredClone(pod), patch, true, false).newDocument;
}

export function container(pod: Pod, name: string): Container & Record<string, any> {
  const found = [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])].find((c) => c.name === name);
  if (!found) throw new Error(`pod has no container ${name}`);
  return found as Container & Record<string, any>;
}

/**
 * The kubelet's expansion (k8s.io/kubernetes third_party/forked/golang/expansion):
 * `$(NAME)` becomes the value of an env var defined earlier, `$$` a literal `$`,
 * and an undefined reference stays as written.
 */
export function expandReferences(text: string, vars: ReadonlyMap<string, string>): string {
  let out = '';
  for (let i = 0; i < text.length; i++) {
    const ch = text[i];
    if (ch === '$' && i + 1 < text.length) {
      const next = text[i + 1];
      if (next === '$') { out += '$'; i++; continue; }
      if (next === '(') {
        const close = text.indexOf(')', i + 2);
        if (close > 0) {
          const name = text.slice(i + 2, close);
          out += vars.get(name) ?? `$(${name})`;
          i = close;
          continue;
        }
      }
    }
    out += ch;
  }
  return out;
}

/** What a container sees at start: env (downward API resolved from the pod) and args, both expanded. */
export function startContainer(c: Container, pod: { name: string; namespace: string }): { env: Map<string, string>; args: string[] } {
  const env = new Map<string, string>();
  for (const e of (c.env ?? []) as EnvVar[]) {
    if (e.valueFrom?.fieldRef) {
      const path = e.valueFrom.fieldRef.fieldPath;
      env.set(e.name, path === 'metadata.name' ? pod.name : path === 'metadata.namespace' ? pod.namespace : '');
    } else {
      env.set(e.name, expandReferences(e.value ?? '', env));
    }
  }
  const args = ((c.args ?? []) as string[]).map((a) => expandReferences(a, env));
  return { env, args };
}

/** The bootstrap Envoy parses from `--config-yaml` once the kubelet has started the proxy of `pod`. */
export function startedBootstrap(injected: Pod, pod: { name: string; namespace: string }): Record<string, any> {
  const { args } = startContainer(container(injected, 'sluice-proxy'), pod);
  const i = args.indexOf('--config-yaml');
  if (i < 0) throw new Error('proxy has no --config-yaml');
  return JSON.parse(args[i + 1]!) as Record<string, any>;
}

export const BOOTSTRAP_TYPE = 'envoy.config.bootstrap.v3.Bootstrap';
const METRICS_SERVICE_CONFIG = 'envoy.config.metrics.v3.MetricsServiceConfig';

/**
 * Encode the bootstrap against Envoy's Bootstrap proto and check its
 * protoc-gen-validate rules; throws naming field and rule.
 * The shared proto registry does not list metrics_service.proto (the type of
 * our stats sink's typed_config) yet; load it into this test process's Root
 * if absent, so the sink is really encoded rather than skipped.
 */
export function assertValidBootstrap(bootstrap: unknown, name = 'sidecar'): Uint8Array {
  if (!findEnvoyType(METRICS_SERVICE_CONFIG)) {
    const root = envoyProtoRoot();
    root.loadSync('envoy/config/metrics/v3/metrics_service.proto', { keepCase: true });
    root.resolveAll();
  }
  return assertEnvoyResource(BOOTSTRAP_TYPE, name, bootstrap);
}
