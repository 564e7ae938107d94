/**
 * The Kubernetes source wired to the model's cross-object check (the source
 * itself never imports the model). A separate file so that YAML mode does not
 * load the Kubernetes client.
 */
import { evaluateLoad } from '../model/build.js';
import { KubernetesSource, type KubernetesSourceOptions } from '../sources/kubernetes.js';

export function kubernetesSource(options: Omit<KubernetesSourceOptions, 'checkObjects'> & { readonly meshNamespace?: string }): KubernetesSource {
  const { meshNamespace, ...sourceOptions } = options;
  return new KubernetesSource({ ...sourceOptions, checkObjects: (load) => evaluateLoad(load, { meshNamespace }) });
}
