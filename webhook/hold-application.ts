/**
 * Holding the app until its proxy is ready, so its first outbound calls (a
 * config server, a registry such as Eureka or Nacos) do not fail against a
 * proxy that has no listeners yet.
 *
 * Two ways, chosen by `proxy.nativeSidecar`:
 * - native sidecar (Kubernetes 1.29+): the proxy is an init container with
 *   `restartPolicy: Always`; the kubelet starts the next containers only once
 *   its startupProbe passes, so the proxy gets one on its readiness path;
 * - classic sidecar: the proxy becomes the *first* container and gets a
 *   postStart hook that returns only when its readiness path answers 200. The
 *   kubelet starts a pod's containers in order and waits for each postStart
 *   hook before starting the next, so the app starts after the proxy is ready.
 *   The hook is a bash loop over `/dev/tcp` (no curl needed): the default
 *   Envoy image has bash; a distroless proxy image needs the native way.
 */
import type { Container } from './kube.js';
import { escapeKubeletReferences } from './init-container.js';

/** How long the app is held at most (the hook fails after this, and the kubelet restarts the proxy). */
export const HOLD_TIMEOUT_SECONDS = 300;

/** The postStart script: poll the proxy's readiness path on loopback until it answers 200. */
export function readinessWaitScript(statusPort: number, readyPath: string, timeoutSeconds = HOLD_TIMEOUT_SECONDS): string {
  const request = `GET ${readyPath} HTTP/1.1\\r\\nHost: 127.0.0.1\\r\\nConnection: close\\r\\n\\r\\n`;
  return [
    `deadline=$((SECONDS + ${timeoutSeconds}))`,
    'while [ "$SECONDS" -lt "$deadline" ]; do',
    `  if exec 3<>/dev/tcp/127.0.0.1/${statusPort}; then`,
    `    printf '${request}' >&3`,
    '    IFS= read -r status <&3 || status=',
    '    exec 3<&- 3>&-',
    '    case "$status" in *" 200 "*) exit 0 ;; esac',
    '  fi 2>/dev/null',
    '  sleep 0.5',
    'done',
    `echo "sluice: proxy not ready on ${statusPort}${readyPath} after ${timeoutSeconds}s" >&2`,
    'exit 1',
  ].join('\n');
}

/** Change the proxy container so the app waits for it; `native` says which of the two ways applies. */
export function holdApplication(proxy: Container, native: boolean, statusPort: number, readyPath: string): Container {
  if (native) {
    return {
      ...proxy,
      startupProbe: {
        httpGet: { path: readyPath, port: statusPort },
        periodSeconds: 1,
        timeoutSeconds: 2,
        failureThreshold: HOLD_TIMEOUT_SECONDS,
      },
    };
  }
  return {
    ...proxy,
    // The kubelet expands $(…) in commands: the script's shell `$` are escaped.
    lifecycle: { postStart: { exec: { command: ['/bin/bash', '-c', escapeKubeletReferences(readinessWaitScript(statusPort, readyPath))] } } },
  };
}
