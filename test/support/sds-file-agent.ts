/**
 * The product's certificate agent (`sluice cert-agent`,
 * identity/certificate-file-agent.ts) for a test workload: its token in a temp
 * file, its certificate files in a temp directory, started and waited for.
 */
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CertificateFileAgent } from '../../control-plane/identity/certificate-file-agent.js';
import { createLogger } from '../../control-plane/log/logger.js';

export interface SdsFileAgent {
  readonly dir: string;
  /** Certificates written so far (1 after start, +1 per rotation). */
  readonly written: () => number;
  /** A bootstrap `certificate_providers` block naming the files (instances `default` and `ROOTCA`). */
  certificateProviders(refreshInterval?: string): Record<string, unknown>;
  close(): Promise<void>;
}

export async function startSdsFileAgent(xdsAddress: string, node: { id: string; namespace: string; token?: string }, timeoutMs = 5_000): Promise<SdsFileAgent> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-cert-agent-'));
  const tokenFile = path.join(dir, 'token');
  if (node.token) await writeFile(tokenFile, `${node.token}\n`, { mode: 0o600 });
  const agent = new CertificateFileAgent({ xdsAddress, nodeId: node.id, namespace: node.namespace, tokenFile, directory: path.join(dir, 'certs'), logger: createLogger((process.env.SLUICE_TEST_LOG_LEVEL ?? 'silent') as 'silent') });
  const close = async () => {
    agent.stop();
    await rm(dir, { recursive: true, force: true });
  };
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([agent.start(), new Promise((_, reject) => (timer = setTimeout(() => reject(new Error(`node ${node.id}: the control plane sent no certificate within ${timeoutMs} ms`)), timeoutMs)))]);
  } catch (error) {
    await close();
    throw error;
  } finally {
    clearTimeout(timer);
  }
  return { dir, written: () => agent.written, certificateProviders: (refreshInterval = '0.5s') => agent.certificateProviders(refreshInterval), close };
}
