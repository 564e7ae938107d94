import { mkdtemp, rm, writeFile, mkdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** A throw-away config directory; `files` maps relative paths to YAML text. */
export async function tempConfig(files: Record<string, string>): Promise<{ dir: string; write: (file: string, text: string) => Promise<void>; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-test-'));
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  };
  for (const [file, text] of Object.entries(files)) await write(file, text);
  return { dir, write, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/** A small valid mesh: shop/orders with v1 and v2 pods, and a policy. */
export const ordersService = `apiVersion: v1
kind: Service
metadata: { name: orders, namespace: shop }
spec:
  selector: { app: orders }
  ports: [{ name: http, port: 8080, targetPort: 8080 }]
---
apiVersion: v1
kind: Pod
metadata: { name: orders-v1-0, namespace: shop, labels: { app: orders, version: v1 } }
spec: { containers: [{ name: app, image: orders:v1 }] }
---
apiVersion: v1
kind: Pod
metadata: { name: orders-v2-0, namespace: shop, labels: { app: orders, version: v2 } }
spec: { containers: [{ name: app, image: orders:v2 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: orders-1, namespace: shop, labels: { kubernetes.io/service-name: orders } }
addressType: IPv4
ports: [{ name: http, port: 8080 }]
endpoints:
  - { addresses: [10.0.0.1], targetRef: { kind: Pod, name: orders-v1-0 } }
  - { addresses: [10.0.0.2], targetRef: { kind: Pod, name: orders-v2-0 }, conditions: { ready: false } }
`;

/** The orders TrafficPolicy (versions v1 and v2) with `spec` lines appended under spec. */
export const ordersPolicyWith = (spec: string) => `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
${spec}`;

export const ordersPolicy = (weights: [number, number] = [90, 10]) => `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: orders, namespace: shop }
spec:
  service: orders
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
  routes:
    - name: split
      to:
        - { version: v1, weight: ${weights[0]} }
        - { version: v2, weight: ${weights[1]} }
`;
