/**
 * The one-way pipeline, wired once: a directory of manifests → the model's
 * verdict (a Snapshot or every problem) → the Envoy resources one proxy gets.
 * `serve` (through ControlPlane), `sluice validate`, `sluice translate` and
 * the golden tests all go through these functions, so they cannot drift apart.
 */
import type { LoadResult } from '../core/config-source.js';
import { evaluateLoad, type BuildOptions, type BuildResult } from '../model/build.js';
import type { Snapshot } from '../model/snapshot.js';
import { loadDirectory } from '../sources/yaml-directory.js';
import { proxyIdentityFromNode, scopeOf, type ProxyIdentity } from '../translate/proxy-scope.js';
import type { ScopeResources } from '../translate/resources.js';
import { translateScope, type TranslateOptions } from '../translate/translate.js';

export interface DirectoryModel {
  readonly load: LoadResult;
  readonly result: BuildResult;
}

/** Read every manifest under `directory` and build the model from it (never throws for bad content). */
export async function modelFromDirectory(directory: string, options: BuildOptions = {}): Promise<DirectoryModel> {
  const load = await loadDirectory(directory);
  return { load, result: evaluateLoad(load, options) };
}

/** The proxy a node id and node metadata describe (as the xDS server would see it). */
export function proxyFromNode(nodeId: string, metadata: Readonly<Record<string, unknown>> = {}): ProxyIdentity {
  return proxyIdentityFromNode(nodeId, metadata);
}

/** Every resource this proxy would receive for `snapshot`, each kind sorted by name, checked against Envoy's rules by default. */
export function resourcesForProxy(snapshot: Snapshot, proxy: ProxyIdentity, options: TranslateOptions = { validate: true }): ScopeResources {
  return translateScope(snapshot, scopeOf(snapshot, proxy), options);
}
