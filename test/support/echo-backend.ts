/**
 * Test gRPC backends: each answers `Whoami` with its version. A backend can be
 * told to fail a share of calls (with UNAVAILABLE or INTERNAL), every other
 * call, or to be slow, to exercise retries, canary rollbacks and ejection.
 */
import { Client, Server, ServerCredentials, credentials, Metadata, status, type ServiceError, type sendUnaryData, type ServerUnaryCall } from '@grpc/grpc-js';

export const echoMethod = '/sluice.test.Echo/Whoami';
const json = { serialize: (value: unknown) => Buffer.from(JSON.stringify(value)), deserialize: (bytes: Buffer) => JSON.parse(bytes.toString() || '{}') as unknown };

export interface Behaviour {
  /** Fail this share of calls (0..1), chosen at random. */
  errorRate?: number;
  /** Fail every other call (deterministic flakiness). */
  alternateFailures?: boolean;
  errorCode?: status;
  latencyMs?: number;
}

export interface EchoBackend {
  readonly version: string;
  readonly port: number;
  calls: number;
  behaviour: Behaviour;
  stop(): Promise<void>;
}

export async function startEchoBackend(version: string, behaviour: Behaviour = {}): Promise<EchoBackend> {
  const server = new Server();
  const backend: EchoBackend = {
    version,
    port: 0,
    calls: 0,
    behaviour,
    stop: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
  server.addService(
    { Whoami: { path: echoMethod, requestStream: false, responseStream: false, requestDeserialize: json.deserialize, responseSerialize: json.serialize, requestSerialize: json.serialize, responseDeserialize: json.deserialize } },
    {
      Whoami: (_call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        backend.calls++;
        const b = backend.behaviour;
        const fail = (b.alternateFailures && backend.calls % 2 === 1) || (b.errorRate !== undefined && Math.random() < b.errorRate);
        const answer = () => (fail ? callback({ code: b.errorCode ?? status.UNAVAILABLE, details: `${version} failed on purpose` } as ServiceError) : callback(null, { version }));
        if (b.latencyMs) setTimeout(answer, b.latencyMs);
        else answer();
      },
    },
  );
  const port = await new Promise<number>((resolve, reject) => server.bindAsync('127.0.0.1:0', ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  (backend as { port: number }).port = port;
  return backend;
}

/** A proxyless gRPC client (the real @grpc/grpc-js-xds) dialling `xds:///<target>` through the control plane at `xdsAddress`. */
export function xdsEchoClient(target: string, xdsAddress: string, node: { id: string; metadata: Record<string, unknown> }): { whoami(metadata?: Record<string, string>, deadlineMs?: number): Promise<string>; close(): void } {
  const bootstrap = {
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: node.id, metadata: node.metadata, locality: {} },
  };
  const client = new Client(`xds:///${target}`, credentials.createInsecure(), { 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': JSON.stringify(bootstrap) });
  return {
    whoami(metadata = {}, deadlineMs = 5_000) {
      const md = new Metadata();
      for (const [key, value] of Object.entries(metadata)) md.set(key, value);
      return new Promise<string>((resolve, reject) => {
        client.makeUnaryRequest(echoMethod, json.serialize, json.deserialize, {}, md, { deadline: Date.now() + deadlineMs }, (error, response) => {
          if (error) reject(error);
          else resolve((response as { version: string }).version);
        });
      });
    },
    close: () => client.close(),
  };
}

/** Call `count` times (a few at a time) and count answers per version and failures. */
export async function tally(call: () => Promise<string>, count: number, concurrency = 20): Promise<Record<string, number>> {
  const result: Record<string, number> = {};
  let next = 0;
  const worker = async () => {
    while (next < count) {
      next++;
      const answer = await call().catch((error: { code?: number }) => `error:${error.code ?? '?'}`);
      result[answer] = (result[answer] ?? 0) + 1;
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return result;
}

/**
 * The manifests of service `echo` in `shop` (gRPC port 9090) whose versions are
 * the given backends on 127.0.0.1: the Service, and per version a Pod (for its
 * labels) and an EndpointSlice. Ends with a newline, without a trailing `---`.
 */
export function echoServiceManifests(backends: readonly EchoBackend[]): string {
  const perVersion = backends.map(
    (backend) => `apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: echo-${backend.version}, namespace: shop, labels: { kubernetes.io/service-name: echo } }
addressType: IPv4
ports: [{ name: grpc, port: ${backend.port} }]
endpoints: [{ addresses: [127.0.0.1], targetRef: { kind: Pod, name: echo-${backend.version} } }]
---
apiVersion: v1
kind: Pod
metadata: { name: echo-${backend.version}, namespace: shop, labels: { app: echo, version: ${backend.version} } }
spec: { containers: [{ name: echo, image: echo }] }
`,
  );
  return [`apiVersion: v1
kind: Service
metadata: { name: echo, namespace: shop }
spec: { selector: { app: echo }, ports: [{ name: grpc, port: 9090 }] }
`, ...perVersion].join('---\n');
}

/** A TrafficPolicy for `echo` with versions v1 and v2 and every call on v1: where a canary starts. */
export const echoStablePolicy = `apiVersion: sluice.dev/v1alpha1
kind: TrafficPolicy
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  versions:
    v1: { labels: { version: v1 } }
    v2: { labels: { version: v2 } }
  routes:
    - name: all-stable
      to: [{ version: v1, weight: 100 }]
`;

export interface EchoCanaryOptions {
  readonly steps?: readonly number[];
  readonly threshold?: number;
  readonly interval?: string;
  /** The cohort's match (`values: [u-1, u-2]` by default); false: no cohort. */
  readonly cohort?: string | false;
  /** The `metrics:` items, indented; by default a success-rate bound on any telemetry source. */
  readonly metrics?: string;
}

/** A Canary releasing `echo` v2 over v1. */
export function echoCanary(options: EchoCanaryOptions = {}): string {
  const cohort = options.cohort === false ? '' : `  cohort: { header: x-user-id, ${options.cohort ?? 'values: [u-1, u-2]'} }\n`;
  return `apiVersion: sluice.dev/v1alpha1
kind: Canary
metadata: { name: echo, namespace: shop }
spec:
  service: echo
  stable: v1
  canary: v2
${cohort}  steps: [${(options.steps ?? [20, 50]).join(', ')}]
  interval: ${options.interval ?? '600ms'}
  threshold: ${options.threshold ?? 3}
  metrics:
${options.metrics ?? '    - { name: success-rate, min: 95, minRequests: 10 }'}
`;
}
