/**
 * What a node agent does for a proxyless gRPC workload: fetch its certificate
 * and the trust bundle over SDS (proving the service account with its token)
 * and keep them in files that gRPC's `file_watcher` certificate provider
 * (gRFC A29) reads, rewritten on every rotation pushed.
 */
import { mkdtemp, rename, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { secretTypeUrl } from '../../control-plane/xds/secret-discovery.js';
import { SotwClient, type SotwResponse } from './ads-client.js';

export interface SdsFileAgent {
  readonly dir: string;
  readonly certificateFile: string;
  readonly privateKeyFile: string;
  readonly caFile: string;
  /** Certificates written so far (1 after start, +1 per rotation). */
  readonly written: () => number;
  /** A bootstrap `certificate_providers` block naming the files (instances `default` and `ROOTCA`). */
  certificateProviders(refreshInterval?: string): Record<string, unknown>;
  close(): Promise<void>;
}

async function atomicWrite(file: string, content: string): Promise<void> {
  await writeFile(`${file}.tmp`, content, { mode: 0o600 });
  await rename(`${file}.tmp`, file);
}

export async function startSdsFileAgent(xdsAddress: string, node: { id: string; namespace: string; token?: string }, timeoutMs = 5_000): Promise<SdsFileAgent> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-sds-agent-'));
  const files = { certificateFile: path.join(dir, 'cert.pem'), privateKeyFile: path.join(dir, 'key.pem'), caFile: path.join(dir, 'ca.pem') };
  const client = new SotwClient(xdsAddress, { nodeId: node.id, metadata: { namespace: node.namespace, mode: 'proxyless' }, ...(node.token ? { callMetadata: { authorization: `Bearer ${node.token}` } } : {}) });
  let written = 0;
  let closed = false;
  const save = async (response: SotwResponse) => {
    type Secret = { name: string; tls_certificate?: { certificate_chain: { inline_string: string }; private_key: { inline_string: string } }; validation_context?: { trusted_ca: { inline_string: string } } };
    const secrets = response.resources as Secret[];
    const leaf = secrets.find((s) => s.name === 'default')?.tls_certificate;
    const bundle = secrets.find((s) => s.name === 'ROOTCA')?.validation_context;
    if (bundle) await atomicWrite(files.caFile, bundle.trusted_ca.inline_string);
    if (leaf) {
      // Key before certificate: a watcher never pairs a new certificate with an old key for long.
      await atomicWrite(files.privateKeyFile, leaf.private_key.inline_string);
      await atomicWrite(files.certificateFile, leaf.certificate_chain.inline_string);
      written++;
    }
    client.ack(response, ['default', 'ROOTCA']);
    return Boolean(leaf);
  };
  client.request(secretTypeUrl, ['default', 'ROOTCA']);
  const first = await client.nextOf(secretTypeUrl, timeoutMs);
  const certified = await save(first);
  void (async () => {
    while (!closed) {
      const next = await client.nextOf(secretTypeUrl, 3_600_000).catch(() => undefined);
      if (!next || closed) return;
      await save(next);
    }
  })();
  if (!certified) {
    closed = true;
    client.close();
    await rm(dir, { recursive: true, force: true });
    throw new Error(`node ${node.id}: the control plane sent no certificate`);
  }
  return {
    dir,
    ...files,
    written: () => written,
    certificateProviders: (refreshInterval = '0.5s') => ({
      default: { plugin_name: 'file_watcher', config: { certificate_file: files.certificateFile, private_key_file: files.privateKeyFile, ca_certificate_file: files.caFile, refresh_interval: refreshInterval } },
      ROOTCA: { plugin_name: 'file_watcher', config: { ca_certificate_file: files.caFile, refresh_interval: refreshInterval } },
    }),
    async close() {
      closed = true;
      client.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}
