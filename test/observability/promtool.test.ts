/**
 * The Prometheus rules and scrape config of examples/observability/ pass
 * Debian's `promtool`, and the Grafana dashboards are well-formed. Their
 * queries are run against a real Prometheus in prometheus.test.ts.
 */
import { spawnSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse, stringify } from 'yaml';
import { PROMETHEUS_PATH, PROMETHEUS_PORT } from '../../webhook/bootstrap.js';
import { dashboards, prometheusMissing, promtoolBinary, recordingRules, rulesText, scrapeConfigText } from './observability-files.js';

if (!promtoolBinary) process.stderr.write(`promtool.test.ts skipped: ${prometheusMissing}\n`);

let dir = '';
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'sluice-promtool-'));
});
afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

const promtool = (...args: string[]) => spawnSync(promtoolBinary, args, { encoding: 'utf8', timeout: 20_000 });

describe.skipIf(!promtoolBinary)(`promtool${promtoolBinary ? '' : ` (skipped: ${prometheusMissing})`}`, () => {
  it('passes `promtool check rules`, and promtool would catch a broken rule', async () => {
    const file = path.join(dir, 'rules.yaml');
    await writeFile(file, rulesText());
    const result = promtool('check', 'rules', file);
    expect(result.stderr + result.stdout).toContain(`SUCCESS: ${recordingRules().length} rules found`);
    expect(result.status).toBe(0);

    const broken = path.join(dir, 'broken.yaml');
    await writeFile(broken, rulesText().replace('sum by (destination_service) (service_version:sluice_requests:rate1m)', 'sum by (destination_service) (service_version:sluice_requests:rate1m'));
    expect(promtool('check', 'rules', broken).status).not.toBe(0);
  });

  it('passes `promtool check config` (Kubernetes discovery swapped for file discovery: Debian builds Prometheus without it)', async () => {
    const config = parse(scrapeConfigText()) as { rule_files: string[]; scrape_configs: Array<Record<string, unknown>> };
    expect(config.rule_files).toEqual(['/etc/prometheus/sluice/prometheus-rules.yaml']);
    expect(config.scrape_configs.map((c) => c.job_name)).toEqual(['sluice-envoy', 'sluice-control-plane']);
    for (const job of config.scrape_configs) {
      expect(job.kubernetes_sd_configs).toBeDefined();
      delete job.kubernetes_sd_configs;
      job.file_sd_configs = [{ files: [path.join(dir, 'targets.json')] }];
    }
    const file = path.join(dir, 'prometheus.yml');
    await writeFile(file, stringify(config));
    const result = promtool('check', 'config', '--syntax-only', file);
    expect(result.stderr + result.stdout).toContain('SUCCESS');
    expect(result.status).toBe(0);
  });

  it('scrapes the port and path the injector opens on every sidecar', () => {
    const text = scrapeConfigText();
    expect(text).toContain(`:${PROMETHEUS_PORT}/proxy${PROMETHEUS_PATH}`);
    // The container port the relabeling keeps is the one the injected sidecar declares.
    const golden = JSON.parse(readFileSync('test/golden/inject/deployment-pod/out.json', 'utf8')) as unknown;
    const ports = JSON.stringify(golden).match(/\{"name":"([^"]+)","containerPort":15090/);
    expect(ports?.[1]).toBeDefined();
    expect(text).toContain(`regex: true;${ports![1]}`);
  });
});

describe('Grafana dashboards', () => {
  it('are four dashboards of Prometheus panels, each with a query, on a selectable data source', () => {
    const all = dashboards();
    expect(all.map((d) => d.file)).toEqual(['canary.json', 'control-plane.json', 'mesh-overview.json', 'service-version.json']);
    const uids = new Set<string>();
    for (const { file, json } of all) {
      expect(json.uid, file).toMatch(/^sluice-/);
      uids.add(json.uid);
      expect(json.templating.list.find((v) => v.name === 'datasource')?.type, file).toBe('datasource');
      expect(json.panels.length, file).toBeGreaterThanOrEqual(4);
      for (const panel of json.panels) {
        expect(panel.targets?.length, `${file}: ${panel.title}`).toBeGreaterThan(0);
        for (const target of panel.targets!) expect(target.expr.trim(), `${file}: ${panel.title}`).not.toBe('');
      }
    }
    expect(uids.size).toBe(all.length);
  });
});
