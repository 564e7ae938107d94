/**
 * A Helm chart inside the configuration directory (examples/helm/sluice) is
 * not read: its templates are manifests only once Helm renders them, and
 * read as they are they would be broken objects (and the chart's Services
 * would join the mesh).
 */
import { expect, it } from 'vitest';
import { loadDirectory } from '../../control-plane/sources/yaml-directory.js';
import { evaluateLoad } from '../../control-plane/model/build.js';
import { ordersPolicy, ordersService, tempConfig } from '../support/temp-config.js';

it('skips a directory holding Chart.yaml, below the configuration directory', async () => {
  const template = 'apiVersion: v1\nkind: Service\nmetadata:\n  name: sluice-xds\n  namespace: {{ .Release.Namespace }}\nspec:\n  ports: [{ port: 15010 }]\n';
  const config = await tempConfig({
    'svc.yaml': ordersService,
    'tp.yaml': ordersPolicy(),
    'helm/sluice/Chart.yaml': 'apiVersion: v2\nname: sluice\nversion: 0.1.0\n',
    'helm/sluice/templates/services.yaml': template,
  });
  try {
    const load = await loadDirectory(config.dir);
    expect(load.issues).toEqual([]);
    const result = evaluateLoad(load);
    expect(result.ok).toBe(true);
    // The control: the same template outside a chart is read, and rejected.
    await config.write('loose/services.yaml', template);
    expect((await loadDirectory(config.dir)).issues.length + (evaluateLoad(await loadDirectory(config.dir)).ok ? 0 : 1)).toBeGreaterThan(0);
  } finally {
    await config.cleanup();
  }
});
