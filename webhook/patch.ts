/**
 * The JSONPatch (RFC 6902) that turns a pod into an injected pod. Only `add`
 * operations: nothing the user wrote is replaced or removed, and the API
 * server rejects the patch rather than clobber a field that changed under it.
 */
import type { Operation } from 'fast-json-patch';
import { ANNOTATIONS, DEFAULT_CONTAINER_ANNOTATION } from './annotations.js';
import type { InjectionConfig } from './config.js';
import type { Container, Pod } from './kube.js';
import { PROMETHEUS_PATH, PROMETHEUS_PORT } from './bootstrap.js';
import { buildInitContainer, INIT_CONTAINER_NAME } from './init-container.js';
import { resolveProxySettings } from './pod-settings.js';
import { buildSidecarContainer, PROXY_CONTAINER_NAME } from './sidecar.js';
import { workloadName } from './workload-name.js';

export type { Operation };

const PROMETHEUS_ANNOTATION_PREFIX = 'prometheus.io/';

/** Bump when the injected shape changes in a way an upgrade tool must know about. */
export const INJECTION_VERSION = 1;

/** JSON Pointer escaping of one path segment (RFC 6901). */
export function pointerSegment(key: string): string {
  return key.replaceAll('~', '~0').replaceAll('/', '~1');
}

/**
 * Build the patch for a pod. Throws PodAnnotationsError when an annotation
 * cannot be used. The caller has already decided the pod is to be injected.
 * `workload` overrides the name derived from the pod (a template has no owner yet).
 */
export function buildInjectionPatch(pod: Pod, config: InjectionConfig, workload?: string): Operation[] {
  const meta = pod.metadata ?? {};
  const settings = resolveProxySettings(meta.annotations, config);
  const native = config.proxy.nativeSidecar;
  const init = buildInitContainer(config, settings.traffic);
  const proxy = buildSidecarContainer({ workload: workload ?? workloadName(meta), labels: meta.labels ?? {}, settings, config }, native);

  const ops: Operation[] = [];
  if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: {} });

  const annotations: Record<string, string> = {
    [ANNOTATIONS.status]: JSON.stringify({
      version: INJECTION_VERSION,
      initContainers: native ? [INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME] : [INIT_CONTAINER_NAME],
      containers: native ? [] : [PROXY_CONTAINER_NAME],
    }),
  };
  // Prometheus' conventional scrape annotations point at Envoy's stats (the
  // sluice-prometheus listener of the bootstrap). A pod that already has any
  // prometheus.io/* annotation keeps its own: its app's metrics stay scraped,
  // and the proxy is still found by its container port name (examples/observability/).
  if (!Object.keys(meta.annotations ?? {}).some((key) => key.startsWith(PROMETHEUS_ANNOTATION_PREFIX))) {
    annotations[`${PROMETHEUS_ANNOTATION_PREFIX}scrape`] = 'true';
    annotations[`${PROMETHEUS_ANNOTATION_PREFIX}port`] = String(PROMETHEUS_PORT);
    annotations[`${PROMETHEUS_ANNOTATION_PREFIX}path`] = PROMETHEUS_PATH;
  }
  const firstApp = pod.spec?.containers?.[0]?.name;
  if (firstApp !== undefined && meta.annotations?.[DEFAULT_CONTAINER_ANNOTATION] === undefined) {
    annotations[DEFAULT_CONTAINER_ANNOTATION] = firstApp;
  }
  if (meta.annotations === undefined) {
    ops.push({ op: 'add', path: '/metadata/annotations', value: annotations });
  } else {
    for (const [key, value] of Object.entries(annotations)) {
      ops.push({ op: 'add', path: `/metadata/annotations/${pointerSegment(key)}`, value });
    }
  }

  // Appended after the app's own init containers, so those still run with
  // plain networking (a migration job fetching from the network keeps working
  // before the proxy exists).
  const addedInit: Container[] = native ? [init, proxy] : [init];
  if (pod.spec?.initContainers === undefined) {
    ops.push({ op: 'add', path: '/spec/initContainers', value: addedInit });
  } else {
    for (const c of addedInit) ops.push({ op: 'add', path: '/spec/initContainers/-', value: c });
  }
  if (!native) {
    if (pod.spec?.containers === undefined) ops.push({ op: 'add', path: '/spec/containers', value: [proxy] });
    else ops.push({ op: 'add', path: '/spec/containers/-', value: proxy });
  }
  return ops;
}
