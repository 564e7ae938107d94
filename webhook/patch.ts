/**
 * The JSONPatch (RFC 6902) that turns a pod into an injected pod. `add`
 * operations, and one `replace` per app probe sent through the proxy (its
 * `httpGet` only; the original target is kept in the proxy's bootstrap):
 * nothing else the user wrote is replaced or removed.
 */
import type { Operation } from 'fast-json-patch';
import { ANNOTATIONS, DEFAULT_CONTAINER_ANNOTATION } from './annotations.js';
import type { InjectionConfig } from './config.js';
import type { Container, Pod } from './kube.js';
import { PROMETHEUS_PATH, READY_PATH } from './bootstrap.js';
import { holdApplication } from './hold-application.js';
import { planProbeRewrites } from './probe-rewrite.js';
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
  const init = buildInitContainer(config, settings.traffic, settings);
  const probes = settings.rewriteAppProbes ? planProbeRewrites(pod, settings.ports.status) : undefined;
  const sidecar = buildSidecarContainer({ workload: workload ?? workloadName(meta), labels: meta.labels ?? {}, settings, config, appProbes: probes?.probes }, native);
  const hold = settings.holdApplicationUntilProxyStarts;
  const proxy = hold ? holdApplication(sidecar, native, settings.ports.status, READY_PATH) : sidecar;

  const ops: Operation[] = [];
  if (pod.metadata === undefined) ops.push({ op: 'add', path: '/metadata', value: {} });

  const annotations: Record<string, string> = {
    [ANNOTATIONS.status]: JSON.stringify({
      version: INJECTION_VERSION,
      initContainers: native ? [INIT_CONTAINER_NAME, PROXY_CONTAINER_NAME] : [INIT_CONTAINER_NAME],
      containers: native ? [] : [PROXY_CONTAINER_NAME],
      // Present only when used, so the annotation of a plain injection keeps its shape.
      ...(probes?.probes.length ? { rewrittenProbes: probes.probes.map((p) => `${p.container}/${p.field}`) } : {}),
      ...(probes?.notRewritten.length ? { probesNotRewritten: probes.notRewritten } : {}),
      ...(hold ? { holdApplicationUntilProxyStarts: true } : {}),
    }),
  };
  // Prometheus' conventional scrape annotations point at Envoy's stats (the
  // sluice-prometheus listener of the bootstrap). A pod that already has any
  // prometheus.io/* annotation keeps its own: its app's metrics stay scraped,
  // and the proxy is still found by its container port name (examples/observability/).
  if (!Object.keys(meta.annotations ?? {}).some((key) => key.startsWith(PROMETHEUS_ANNOTATION_PREFIX))) {
    annotations[`${PROMETHEUS_ANNOTATION_PREFIX}scrape`] = 'true';
    annotations[`${PROMETHEUS_ANNOTATION_PREFIX}port`] = String(settings.ports.prometheus);
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
    // Held apps start after the proxy: the kubelet starts containers in order, waiting for each postStart hook.
    if (pod.spec?.containers === undefined) ops.push({ op: 'add', path: '/spec/containers', value: [proxy] });
    else ops.push({ op: 'add', path: hold ? '/spec/containers/0' : '/spec/containers/-', value: proxy });
  }
  // Probe paths are replaced after the proxy is placed, so their container indexes are shifted when it went first.
  const shift = !native && hold && pod.spec?.containers !== undefined ? 1 : 0;
  for (const op of probes?.operations ?? []) {
    ops.push({ ...op, path: op.path.replace(/^\/spec\/containers\/(\d+)\//, (_m, i: string) => `/spec/containers/${Number(i) + shift}/`) } as Operation);
  }
  return ops;
}
