/**
 * Where the serve-path benchmark's mesh lives, and how a change is made:
 * files in a directory (`serve --config`, a change is a file write) or
 * objects on the fake Kubernetes API server (`serve --kubeconfig`, a change
 * is the same manifests applied, as `kubectl apply` would).
 */
import { mkdtemp, mkdir, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseAllDocuments } from 'yaml';
import type { FakeKubeApiServer } from '../support/fake-kube-apiserver.js';
import { startFakeCluster } from '../kubernetes/helpers.js';
import type { ServeOptions } from './serve-path-control-plane.js';

export type MeshSourceKind = 'yaml' | 'kubernetes';

export interface MeshSource {
  /** How `sluice serve` reads it. */
  readonly serve: ServeOptions;
  /** Replace one of the mesh's files (relative path, as meshFiles names them). */
  write(file: string, text: string): Promise<void>;
  close(): Promise<void>;
}

async function yamlSource(files: ReadonlyArray<[string, string]>): Promise<MeshSource> {
  const dir = await mkdtemp(path.join(tmpdir(), 'sluice-serve-path-'));
  const write = async (file: string, text: string) => {
    await mkdir(path.dirname(path.join(dir, file)), { recursive: true });
    await writeFile(path.join(dir, file), text);
  };
  for (const [file, text] of files) await write(file, text);
  return { serve: { config: dir }, write, close: () => rm(dir, { recursive: true, force: true }) };
}

const documentsOf = (text: string) => parseAllDocuments(text).map((d) => d.toJS() as Record<string, any>).filter(Boolean);

async function kubernetesSource(files: ReadonlyArray<[string, string]>): Promise<MeshSource> {
  const fake: FakeKubeApiServer = await startFakeCluster();
  const objects = files.flatMap(([, text]) => documentsOf(text));
  for (const ns of new Set(objects.map((o) => o.metadata.namespace as string))) fake.apply({ apiVersion: 'v1', kind: 'Namespace', metadata: { name: ns } });
  for (const object of objects) fake.apply(object);
  return {
    serve: { kubeconfig: await fake.writeKubeconfig() },
    write: async (_file, text) => {
      for (const object of documentsOf(text)) fake.apply(object);
    },
    close: () => fake.close(),
  };
}

export function startMeshSource(kind: MeshSourceKind, files: ReadonlyArray<[string, string]>): Promise<MeshSource> {
  return kind === 'yaml' ? yamlSource(files) : kubernetesSource(files);
}
