/**
 * Where a generated mesh root is kept. YAML mode: a directory (`ca.crt`,
 * `ca.key`, the key file readable by the owner only). Kubernetes mode: a
 * Secret in the control plane's namespace, created once; a replica that loses
 * the create race reads the winner's, so every replica signs with one root.
 */
import { mkdir, readFile, rename, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { CoreV1Api, type KubeConfig } from '@kubernetes/client-node';
import { CertificateAuthorityError, type CaMaterial, type CaStore } from './certificate-authority.js';

export class CaDirectoryStore implements CaStore {
  readonly description: string;

  constructor(private readonly directory: string) {
    this.description = `directory ${directory}`;
  }

  async load(): Promise<CaMaterial | undefined> {
    try {
      const [certificatePem, privateKeyPem] = await Promise.all([readFile(path.join(this.directory, 'ca.crt'), 'utf8'), readFile(path.join(this.directory, 'ca.key'), 'utf8')]);
      return { certificatePem, privateKeyPem };
    } catch (error) {
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') return undefined;
      throw new CertificateAuthorityError(`cannot read the CA from ${this.directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { directory: this.directory }, { cause: error });
    }
  }

  async create(material: CaMaterial): Promise<CaMaterial> {
    try {
      await mkdir(this.directory, { recursive: true, mode: 0o700 });
      // Key first and each file renamed into place, so a crash never leaves a certificate without its key.
      for (const [name, content, mode] of [['ca.key', material.privateKeyPem, 0o600], ['ca.crt', material.certificatePem, 0o644]] as const) {
        const target = path.join(this.directory, name);
        await writeFile(`${target}.tmp`, content, { mode });
        await rename(`${target}.tmp`, target);
      }
      return material;
    } catch (error) {
      throw new CertificateAuthorityError(`cannot store the CA in ${this.directory}: ${(error as NodeJS.ErrnoException).code ?? (error as Error).message}`, { directory: this.directory }, { cause: error });
    }
  }
}

const statusOf = (error: unknown) => (error as { code?: unknown })?.code;

export class CaSecretStore implements CaStore {
  readonly description: string;
  readonly #core: CoreV1Api;

  constructor(kubeConfig: KubeConfig, private readonly namespace: string, private readonly name: string) {
    this.#core = kubeConfig.makeApiClient(CoreV1Api);
    this.description = `Secret ${namespace}/${name}`;
  }

  async load(): Promise<CaMaterial | undefined> {
    try {
      const secret = await this.#core.readNamespacedSecret({ name: this.name, namespace: this.namespace });
      const data = secret.data ?? {};
      if (!data['ca.crt'] || !data['ca.key']) throw new CertificateAuthorityError(`${this.description} has no ca.crt and ca.key`, { secret: this.description });
      return { certificatePem: Buffer.from(data['ca.crt'], 'base64').toString('utf8'), privateKeyPem: Buffer.from(data['ca.key'], 'base64').toString('utf8') };
    } catch (error) {
      if (statusOf(error) === 404) return undefined;
      if (error instanceof CertificateAuthorityError) throw error;
      throw new CertificateAuthorityError(`cannot read ${this.description}: HTTP ${String(statusOf(error) ?? '?')}`, { secret: this.description }, { cause: error });
    }
  }

  async create(material: CaMaterial): Promise<CaMaterial> {
    try {
      await this.#core.createNamespacedSecret({
        namespace: this.namespace,
        body: {
          apiVersion: 'v1',
          kind: 'Secret',
          type: 'Opaque',
          metadata: { name: this.name, namespace: this.namespace, labels: { 'app.kubernetes.io/managed-by': 'sluice' } },
          data: { 'ca.crt': Buffer.from(material.certificatePem).toString('base64'), 'ca.key': Buffer.from(material.privateKeyPem).toString('base64') },
        },
      });
      return material;
    } catch (error) {
      // Another replica created it first: use theirs.
      if (statusOf(error) === 409) {
        const stored = await this.load();
        if (stored) return stored;
      }
      throw new CertificateAuthorityError(`cannot create ${this.description}: HTTP ${String(statusOf(error) ?? '?')}`, { secret: this.description }, { cause: error });
    }
  }
}
