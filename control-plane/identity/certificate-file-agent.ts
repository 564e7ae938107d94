/**
 * The node-agent side for proxyless gRPC: gRPC reads its workload certificate
 * from files named by the bootstrap's `certificate_providers` (gRFC A29,
 * plugin `file_watcher`); it has no SDS client. This agent fetches the
 * certificate and trust bundle over SDS, proving the service account with the
 * pod's projected token, and keeps three files current:
 * `cert.pem` (chain), `key.pem` (0600) and `ca.pem`. Every rotation pushed
 * rewrites them (each by rename, key before certificate); gRPC's watcher picks
 * them up at its refresh interval and open connections keep going.
 *
 * The token file is re-read at every (re)connect, because kubelet rotates
 * projected tokens. A lost stream is retried with backoff.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { credentials as grpcCredentials, makeGenericClientConstructor, Metadata, type ChannelCredentials, type ClientDuplexStream } from '@grpc/grpc-js';
import { decodeToJson, encodeResource } from '../envoy/codec.js';
import { typeUrlOf } from '../envoy/proto-registry.js';
import type { Logger } from '../log/logger.js';

const secretTypeUrl = typeUrlOf('envoy.extensions.transport_sockets.tls.v3.Secret');
const adsPath = '/envoy.service.discovery.v3.AggregatedDiscoveryService/StreamAggregatedResources';
/** The instance names translation uses (translate/mtls.ts), as files for the `file_watcher` provider. */
const wanted = ['default', 'ROOTCA'];

export interface CertificateFileAgentOptions {
  readonly xdsAddress: string;
  readonly nodeId: string;
  readonly namespace: string;
  /** The projected service-account token (audience `sluice`); re-read at each connect. */
  readonly tokenFile?: string;
  readonly directory: string;
  /** Credentials of the xDS channel (TLS to the control plane outside local use). */
  readonly credentials?: ChannelCredentials;
  readonly logger: Logger;
}

interface SecretJson {
  name?: string;
  tls_certificate?: { certificate_chain?: { inline_string?: string }; private_key?: { inline_string?: string } };
  validation_context?: { trusted_ca?: { inline_string?: string } };
}

async function replace(file: string, content: string, mode: number): Promise<void> {
  await writeFile(`${file}.tmp`, content, { mode });
  await rename(`${file}.tmp`, file);
}

export class CertificateFileAgent {
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly caFile: string;
  /** Certificates written since start. */
  written = 0;
  #stream?: ClientDuplexStream<unknown, unknown>;
  #client?: { close(): void };
  #stopped = false;
  #retryMs = 1_000;
  #retry?: NodeJS.Timeout;
  #firstCertificate: Promise<void>;
  #resolveFirst!: () => void;

  constructor(private readonly options: CertificateFileAgentOptions) {
    this.certificateFile = path.join(options.directory, 'cert.pem');
    this.privateKeyFile = path.join(options.directory, 'key.pem');
    this.caFile = path.join(options.directory, 'ca.pem');
    this.#firstCertificate = new Promise((resolve) => (this.#resolveFirst = resolve));
  }

  /** The bootstrap block naming these files, for the gRPC application's bootstrap. */
  certificateProviders(refreshInterval = '60s'): Record<string, unknown> {
    return {
      default: { plugin_name: 'file_watcher', config: { certificate_file: this.certificateFile, private_key_file: this.privateKeyFile, ca_certificate_file: this.caFile, refresh_interval: refreshInterval } },
      ROOTCA: { plugin_name: 'file_watcher', config: { ca_certificate_file: this.caFile, refresh_interval: refreshInterval } },
    };
  }

  /** Connect; resolves once the first certificate is on disk (keeps retrying until then). */
  async start(): Promise<void> {
    await mkdir(this.options.directory, { recursive: true, mode: 0o700 });
    await this.#connect();
    return this.#firstCertificate;
  }

  stop(): void {
    this.#stopped = true;
    clearTimeout(this.#retry);
    this.#stream?.cancel();
    this.#client?.close();
  }

  async #connect(): Promise<void> {
    const metadata = new Metadata();
    if (this.options.tokenFile) {
      const token = (await readFile(this.options.tokenFile, 'utf8').catch((error: NodeJS.ErrnoException) => {
        this.options.logger.warn({ tokenFile: this.options.tokenFile, code: error.code }, 'cannot read the service-account token; asking without it');
        return '';
      })).trim();
      if (token) metadata.set('authorization', `Bearer ${token}`);
    }
    const Client = makeGenericClientConstructor(
      {
        StreamAggregatedResources: {
          path: adsPath,
          requestStream: true,
          responseStream: true,
          requestSerialize: (json: unknown) => Buffer.from(encodeResource('envoy.service.discovery.v3.DiscoveryRequest', json)),
          responseDeserialize: (bytes: Buffer) => decodeToJson('envoy.service.discovery.v3.DiscoveryResponse', bytes),
          requestDeserialize: () => ({}),
          responseSerialize: () => Buffer.alloc(0),
        },
      } as never,
      'Ads',
    );
    const client = new Client(this.options.xdsAddress, this.options.credentials ?? grpcCredentials.createInsecure());
    this.#client = client as unknown as { close(): void };
    const stream = (client as unknown as Record<string, (metadata: Metadata) => ClientDuplexStream<unknown, unknown>>).StreamAggregatedResources!(metadata);
    this.#stream = stream;
    stream.on('data', (response: { version_info?: string; nonce?: string; resources?: Array<Record<string, unknown>> }) => {
      void this.#save(response).then((certified) => {
        stream.write({ type_url: secretTypeUrl, resource_names: wanted, version_info: response.version_info ?? '', response_nonce: response.nonce ?? '' });
        // A proof is judged once per stream: without a certificate, try again later on a new one (the token may have been renewed).
        if (!certified) stream.cancel();
      });
    });
    const retry = (reason: string) => {
      if (this.#stopped || this.#stream !== stream) return;
      this.#stream = undefined;
      client.close();
      this.options.logger.warn({ reason, retryInMs: this.#retryMs }, 'SDS stream lost; reconnecting');
      this.#retry = setTimeout(() => void this.#connect(), this.#retryMs);
      this.#retryMs = Math.min(this.#retryMs * 2, 30_000);
    };
    stream.on('error', (error: Error) => retry(error.message));
    stream.on('end', () => retry('stream ended'));
    stream.write({ node: { id: this.options.nodeId, metadata: { namespace: this.options.namespace, mode: 'proxyless' } }, type_url: secretTypeUrl, resource_names: wanted });
  }

  /** Write what arrived; false when it holds no certificate. */
  async #save(response: { resources?: Array<Record<string, unknown>> }): Promise<boolean> {
    const secrets = (response.resources ?? []) as SecretJson[];
    const bundle = secrets.find((s) => s.name === 'ROOTCA')?.validation_context?.trusted_ca?.inline_string;
    const leaf = secrets.find((s) => s.name === 'default')?.tls_certificate;
    if (bundle) await replace(this.caFile, bundle, 0o644);
    const chain = leaf?.certificate_chain?.inline_string;
    const key = leaf?.private_key?.inline_string;
    if (!chain || !key) {
      this.options.logger.warn({ nodeId: this.options.nodeId }, 'the control plane sent no certificate (the service account was not proven; see its log)');
      return false;
    }
    // Key first: the watcher may read between the two renames, and a new key with the old certificate fails loudly for a moment, not silently.
    await replace(this.privateKeyFile, key, 0o600);
    await replace(this.certificateFile, chain, 0o644);
    this.written++;
    this.#retryMs = 1_000;
    this.options.logger.info({ directory: this.options.directory, certificates: this.written }, 'workload certificate written');
    this.#resolveFirst();
    return true;
  }
}
