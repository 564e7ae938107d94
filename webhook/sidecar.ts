/**
 * The `sluice-proxy` container: Envoy with its bootstrap.
 *
 * The bootstrap travels in the env var SLUICE_BOOTSTRAP and reaches Envoy as
 * `--config-yaml $(SLUICE_BOOTSTRAP)`. The kubelet expands `$(POD_NAME)` and
 * `$(POD_NAMESPACE)` inside it (both set from the downward API just above it)
 * when the container starts, so the node id is `<pod-name>.<namespace>` even
 * for pods that only had a generateName at admission. No shell, no rendering
 * step and no bootstrap volume are needed, so distroless Envoy images work too.
 */
import type { Container, EnvVar } from './kube.js';
import type { InjectionConfig } from './config.js';
import { buildBootstrap, READY_PATH } from './bootstrap.js';
import { appProbeBootstrap, type AppProbe } from './probe-rewrite.js';
import { escapeKubeletReferences, resourceBlock } from './init-container.js';
import type { ProxySettings } from './pod-settings.js';

export const PROXY_CONTAINER_NAME = 'sluice-proxy';
export const BOOTSTRAP_ENV = 'SLUICE_BOOTSTRAP';
export const NODE_ID_REFERENCE = '$(POD_NAME).$(POD_NAMESPACE)';
export const NAMESPACE_REFERENCE = '$(POD_NAMESPACE)';

export interface SidecarInput {
  readonly workload: string;
  readonly labels: Readonly<Record<string, string>>;
  readonly settings: ProxySettings;
  readonly config: InjectionConfig;
  /** App probes the proxy answers on its status port (probe-rewrite.ts). */
  readonly appProbes?: readonly AppProbe[];
}

export function buildSidecarContainer(input: SidecarInput, native: boolean): Container {
  const { settings, config } = input;
  const labels: Record<string, string> = {};
  for (const [k, v] of Object.entries(input.labels)) labels[escapeKubeletReferences(k)] = escapeKubeletReferences(v);
  const bootstrap = buildBootstrap({
    nodeId: NODE_ID_REFERENCE,
    namespace: NAMESPACE_REFERENCE,
    workload: escapeKubeletReferences(input.workload),
    labels,
    controlPlaneAddress: config.controlPlaneAddress,
    ports: settings.ports,
    ...(config.controlPlaneTls ? { controlPlaneTls: config.controlPlaneTls } : {}),
    ...(input.appProbes?.length ? { appProbes: appProbeBootstrap(input.appProbes) } : {}),
  });
  // Order matters: the kubelet only expands references to variables defined earlier in the list.
  const env: EnvVar[] = [
    { name: 'POD_NAME', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.name' } } },
    { name: 'POD_NAMESPACE', valueFrom: { fieldRef: { apiVersion: 'v1', fieldPath: 'metadata.namespace' } } },
    { name: BOOTSTRAP_ENV, value: JSON.stringify(bootstrap) },
  ];
  const container: Container = {
    name: PROXY_CONTAINER_NAME,
    image: settings.image,
    imagePullPolicy: config.proxy.imagePullPolicy,
    command: ['envoy'],
    args: [
      '--config-yaml', `$(${BOOTSTRAP_ENV})`,
      '--log-level', settings.logLevel,
      '--concurrency', String(settings.concurrency),
      // Hot restart needs shared memory and a parent process; a pod restarts the container instead.
      '--disable-hot-restart',
      '--drain-time-s', '20',
    ],
    env,
    ports: [
      { name: 'http-envoy-prom', containerPort: settings.ports.prometheus, protocol: 'TCP' },
      { name: 'sluice-health', containerPort: settings.ports.status, protocol: 'TCP' },
    ],
    readinessProbe: {
      httpGet: { path: READY_PATH, port: settings.ports.status },
      initialDelaySeconds: 1,
      periodSeconds: 2,
      timeoutSeconds: 3,
      failureThreshold: 30,
    },
    resources: resourceBlock(settings.resources),
    securityContext: {
      runAsUser: settings.uid,
      runAsGroup: settings.uid,
      runAsNonRoot: true,
      privileged: false,
      allowPrivilegeEscalation: false,
      readOnlyRootFilesystem: true,
      capabilities: { drop: ['ALL'] },
    },
  };
  // Native sidecar: an init container the kubelet keeps running alongside the app.
  if (native) container.restartPolicy = 'Always';
  return container;
}
