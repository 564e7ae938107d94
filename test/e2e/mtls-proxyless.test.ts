/**
 * Issue #18 end to end with the real @grpc/grpc-js-xds on both sides: a
 * proxyless gRPC server (XdsServer, gRFC A36) whose listener the control plane
 * sends with its mTLS mode and RBAC filter (A29, A41), and proxyless clients
 * using xDS credentials. Certificates come from the mesh CA over SDS, through
 * a node agent that proves each service account with a token (TokenReview)
 * and writes the files gRPC's file_watcher provider reads.
 *
 * gRPC cannot sniff TLS, so a proxyless server in PERMISSIVE serves plaintext
 * (translate/proxyless-server.ts): "accepts both" is the callers' side here —
 * a mesh client that would use mTLS towards a sidecar and a legacy plaintext
 * client both get answers, and STRICT then refuses plaintext.
 */
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { createServer } from 'node:net';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { Client, credentials, Metadata, ServerCredentials, status, type ServerUnaryCall, type sendUnaryData } from '@grpc/grpc-js';
import { CertificateAuthority } from '../../control-plane/identity/certificate-authority.js';
import { TokenReviewVerifier } from '../../control-plane/identity/workload-identity.js';
import { startControlPlane } from '../support/control-plane.js';
import { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { startSdsFileAgent, type SdsFileAgent } from '../support/sds-file-agent.js';
import { grpcCoreAvailability } from '../interop/grpc-core-client.js';

// grpc-js-xds reads its RBAC switch when loaded (gRFC A41 is opt-in there).
process.env.GRPC_XDS_EXPERIMENTAL_RBAC = 'true';
const xds = await import('@grpc/grpc-js-xds');
xds.register();

const method = '/sluice.test.Greeter/Hello';
const json = { serialize: (value: unknown) => Buffer.from(JSON.stringify(value)), deserialize: (bytes: Buffer) => JSON.parse(bytes.toString() || '{}') as unknown };
const target = 'greeter.shop.svc.cluster.local:9090';
const ttlMs = 4_000;

let fake: FakeKubeApiServer;
let running: Awaited<ReturnType<typeof startControlPlane>>;
let port: number;
let server: InstanceType<typeof xds.XdsServer>;
const agents: SdsFileAgent[] = [];
const clients: Client[] = [];
/** The peer (client address:port) of every call the server answered. */
const peers: string[] = [];

async function freePort(): Promise<number> {
  const probe = createServer();
  await new Promise<void>((resolve) => probe.listen(0, '127.0.0.1', resolve));
  const { port: free } = probe.address() as { port: number };
  await new Promise<void>((resolve) => probe.close(() => resolve()));
  return free;
}

/** The C-core column: Debian's python3-grpcio with xDS credentials (skipped, saying so, without it). */
const core = grpcCoreAvailability('python');
const coreDriver = path.join(path.dirname(fileURLToPath(import.meta.url)), '../interop/grpc_core_mtls.py');
const python = process.env.SLUICE_INTEROP_PYTHON ?? '/usr/bin/python3';
let corePort = 0;
const children: ChildProcessWithoutNullStreams[] = [];

/** A second service served by a C-core xDS server, same mode, its own allow list. */
const coreService = () => `---
apiVersion: v1
kind: Service
metadata: { name: greeter-core, namespace: shop }
spec: { selector: { app: greeter-core }, ports: [{ name: grpc, port: 9090 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: greeter-core-1, namespace: shop, labels: { kubernetes.io/service-name: greeter-core } }
addressType: IPv4
ports: [{ name: grpc, port: ${corePort} }]
endpoints: [{ addresses: [127.0.0.1] }]
---
apiVersion: sluice.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: greeter-core-callers, namespace: shop }
spec:
  selector: { app: greeter-core }
  action: ALLOW
  rules:
    - from: { serviceAccounts: [shop/frontend] }
`;

const meshFiles = (mode: string, authorization: boolean) => ({
  'greeter.yaml': `apiVersion: v1
kind: Service
metadata: { name: greeter, namespace: shop }
spec: { selector: { app: greeter }, ports: [{ name: grpc, port: 9090 }] }
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata: { name: greeter-1, namespace: shop, labels: { kubernetes.io/service-name: greeter } }
addressType: IPv4
ports: [{ name: grpc, port: ${port} }]
endpoints: [{ addresses: [127.0.0.1] }]
${corePort ? coreService() : ''}`,
  'security.yaml': `apiVersion: sluice.dev/v1alpha1
kind: PeerAuthentication
metadata: { name: default, namespace: shop }
spec: { mode: ${mode} }
${authorization ? `---
apiVersion: sluice.dev/v1alpha1
kind: AuthorizationPolicy
metadata: { name: greeter-callers, namespace: shop }
spec:
  selector: { app: greeter }
  action: ALLOW
  rules:
    - from: { serviceAccounts: [shop/frontend] }
      paths: [/sluice.test.Greeter/*]
` : ''}`,
});

function bootstrap(nodeId: string, agent?: SdsFileAgent, xdsAddress = running.xdsAddress): string {
  return JSON.stringify({
    xds_servers: [{ server_uri: xdsAddress, channel_creds: [{ type: 'insecure' }], server_features: ['xds_v3'] }],
    node: { id: nodeId, metadata: { namespace: 'shop', mode: 'proxyless' }, locality: {} },
    server_listener_resource_name_template: 'grpc/server?xds.resource.listening_address=%s',
    ...(agent ? { certificate_providers: agent.certificateProviders() } : {}),
  });
}

async function agentFor(serviceAccount: string): Promise<SdsFileAgent> {
  const agent = await startSdsFileAgent(running.xdsAddress, { id: `${serviceAccount}-agent.shop`, namespace: 'shop', token: fake.issueToken(`system:serviceaccount:shop:${serviceAccount}`) });
  agents.push(agent);
  return agent;
}

/** A mesh client: xds:/// target, xDS credentials (mTLS when the cluster says so). */
function meshClient(nodeId: string, agent: SdsFileAgent, to = target): Client {
  const client = new Client(`xds:///${to}`, new xds.XdsChannelCredentials(credentials.createInsecure()), { 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap(nodeId, agent), 'grpc.use_local_subchannel_pool': 1 });
  clients.push(client);
  return client;
}

/** A client outside the mesh: plaintext, straight to the server's address. */
function plaintextClient(): Client {
  const client = new Client(`127.0.0.1:${port}`, credentials.createInsecure(), { 'grpc.use_local_subchannel_pool': 1 });
  clients.push(client);
  return client;
}

function hello(client: Client, deadlineMs = 3_000): Promise<string> {
  return new Promise((resolve, reject) => {
    client.makeUnaryRequest(method, json.serialize, json.deserialize, {}, new Metadata(), { deadline: Date.now() + deadlineMs }, (error, response) => (error ? reject(error) : resolve((response as { greeting: string }).greeting)));
  });
}

const outcome = (client: Client, deadlineMs?: number) => hello(client, deadlineMs).then((g) => g, (e: { code?: number }) => `error:${e.code}`);

async function eventually(check: () => Promise<boolean>, timeoutMs = 15_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  while (!(await check())) {
    if (Date.now() > until) throw new Error('condition not reached in time');
    await new Promise((r) => setTimeout(r, 200));
  }
}

beforeAll(async () => {
  fake = await FakeKubeApiServer.start();
  port = await freePort();
  const authority = await CertificateAuthority.create({ trustDomain: 'cluster.local' });
  running = await startControlPlane(meshFiles('PERMISSIVE', false), {
    workloadIdentity: { authority, verifiers: [new TokenReviewVerifier(fake.kubeConfig('system:serviceaccount:sluice-system:sluice'))], certificateTtlMs: ttlMs },
  });
  const greeterAgent = await agentFor('greeter');
  server = new xds.XdsServer({ 'grpc.TEST_ONLY_DO_NOT_USE_IN_PROD.xds_bootstrap_config': bootstrap('greeter-0.shop', greeterAgent) } as never);
  server.addService(
    { Hello: { path: method, requestStream: false, responseStream: false, requestDeserialize: json.deserialize, responseSerialize: json.serialize, requestSerialize: json.serialize, responseDeserialize: json.deserialize } },
    {
      Hello: (call: ServerUnaryCall<unknown, unknown>, callback: sendUnaryData<unknown>) => {
        peers.push(call.getPeer());
        callback(null, { greeting: 'hello' });
      },
    },
  );
  await new Promise<void>((resolve, reject) => server.bindAsync(`127.0.0.1:${port}`, new xds.XdsServerCredentials(ServerCredentials.createInsecure()), (error) => (error ? reject(error) : resolve())));
}, 30_000);

afterAll(async () => {
  for (const child of children) child.kill();
  for (const client of clients) client.close();
  server?.forceShutdown();
  for (const agent of agents) await agent.close();
  await running?.stop();
  await fake?.close();
});

describe('mTLS and authorization with proxyless gRPC (grpc-js-xds)', () => {
  let frontend: Client;

  it('PERMISSIVE: a mesh client with xDS credentials and a plaintext client are both answered', async () => {
    frontend = meshClient('frontend-0.shop', await agentFor('frontend'));
    await eventually(async () => (await outcome(frontend)) === 'hello');
    expect(await outcome(plaintextClient())).toBe('hello');
  }, 30_000);

  it('STRICT: plaintext is refused, the mesh client (mTLS, SPIFFE-checked server) keeps working', async () => {
    await running.config.write('security.yaml', meshFiles('STRICT', false)['security.yaml']);
    await eventually(async () => (await outcome(plaintextClient(), 1_000)) !== 'hello');
    expect(await outcome(plaintextClient(), 1_000)).toBe(`error:${status.UNAVAILABLE}`);
    await eventually(async () => (await outcome(frontend)) === 'hello');
  }, 30_000);

  it('a rotated certificate keeps the connection working', async () => {
    const agent = agents[1]!;
    const before = agent.written();
    peers.length = 0;
    const answers: string[] = [];
    // Calls across at least one rotation of both sides' certificates (renewed at half of the 4 s lifetime).
    const until = Date.now() + ttlMs;
    while (Date.now() < until || agent.written() === before) {
      answers.push(await outcome(frontend));
      await new Promise((r) => setTimeout(r, 100));
    }
    expect(agent.written()).toBeGreaterThan(before);
    expect(answers.every((a) => a === 'hello')).toBe(true);
    // One client address:port throughout: the same connection, not a reconnect.
    expect(new Set(peers).size).toBe(1);
    expect((await running.admin('/metrics')).text).toMatch(/sluice_workload_certificates_issued_total\{reason="rotation"\} [1-9]/);
  }, 30_000);

  it('AuthorizationPolicy: an identity not allowed gets PERMISSION_DENIED, the allowed one is answered', async () => {
    const intruder = meshClient('intruder-0.shop', await agentFor('intruder'));
    expect(await outcome(intruder)).toBe('hello');
    await running.config.write('security.yaml', meshFiles('STRICT', true)['security.yaml']);
    await eventually(async () => (await outcome(intruder)) === `error:${status.PERMISSION_DENIED}`);
    expect(await outcome(frontend)).toBe('hello');
  }, 30_000);

  it('a workload that cannot prove its service account gets no certificate', async () => {
    await expect(startSdsFileAgent(running.xdsAddress, { id: 'nobody-agent.shop', namespace: 'shop', token: 'forged' }, 2_000)).rejects.toThrow(/sent no certificate/);
  });
});

/** Run the C-core driver; resolves with its first JSON line. */
function coreProcess(args: string[], bootstrapJson: string): { child: ChildProcessWithoutNullStreams; first: Promise<Record<string, unknown>> } {
  const child = spawn(python, [coreDriver, ...args], { env: { ...process.env, GRPC_XDS_BOOTSTRAP_CONFIG: bootstrapJson, GRPC_VERBOSITY: 'ERROR' } });
  children.push(child);
  let stderr = '';
  child.stderr.on('data', (chunk: Buffer) => (stderr += chunk.toString()));
  const first = new Promise<Record<string, unknown>>((resolve, reject) => {
    let stdout = '';
    child.stdout.on('data', (chunk: Buffer) => {
      stdout += chunk.toString();
      const line = stdout.split('\n')[0];
      if (stdout.includes('\n')) resolve(JSON.parse(line!) as Record<string, unknown>);
    });
    child.on('exit', (code) => reject(new Error(`C-core driver exited ${code}: ${stderr.slice(-2000)}`)));
  });
  return { child, first };
}

describe.skipIf(!('version' in core))(`mTLS and authorization with gRPC C-core ${'version' in core ? core.version : `(skipped: ${'missing' in core ? core.missing : ''})`}`, () => {
  it('a C-core client with xDS credentials reaches the STRICT grpc-js server; a denied identity gets PERMISSION_DENIED', async () => {
    const [frontendAgent, intruderAgent] = [agents[1]!, agents[2]!];
    const allowed = coreProcess(['client', target, '5'], bootstrap('frontend-core-0.shop', frontendAgent));
    expect((await allowed.first).answers).toEqual({ hello: 5 });
    const denied = coreProcess(['client', target, '3'], bootstrap('intruder-core-0.shop', intruderAgent));
    expect((await denied.first).answers).toEqual({ [`error:${status.PERMISSION_DENIED}`]: 3 });
  }, 30_000);

  it('a C-core xDS server takes its STRICT listener and RBAC from Sluice: mTLS callers by identity, plaintext refused', async () => {
    corePort = await freePort();
    await running.config.write('greeter.yaml', meshFiles('STRICT', true)['greeter.yaml']);
    const coreAgent = await agentFor('greeter-core');
    const server = coreProcess(['server', `127.0.0.1:${corePort}`], bootstrap('greeter-core-0.shop', coreAgent));
    expect(await server.first).toEqual({ ready: true });
    const frontend = meshClient('frontend-1.shop', agents[1]!, 'greeter-core.shop.svc.cluster.local:9090');
    await eventually(async () => (await outcome(frontend)) === 'hello from c-core', 20_000);
    const intruder = meshClient('intruder-1.shop', agents[2]!, 'greeter-core.shop.svc.cluster.local:9090');
    expect(await outcome(intruder)).toBe(`error:${status.PERMISSION_DENIED}`);
    const plain = new Client(`127.0.0.1:${corePort}`, credentials.createInsecure());
    clients.push(plain);
    expect(await outcome(plain, 1_000)).toBe(`error:${status.UNAVAILABLE}`);
  }, 40_000);
});
