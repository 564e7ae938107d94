/**
 * Builds the two images (./Dockerfile, images/init/Dockerfile) with Debian's
 * buildah and no registry, via test/install/image-smoke.sh, and checks them:
 * `sluice validate` runs in the image as uid 65532 without a shell there; the
 * init image's iptables-restore/-save (nft and legacy) and sh run.
 *
 * Minutes, not seconds (debootstrap and a full npm build), so `npm test`
 * leaves it out: .ci/run runs it on its own with SLUICE_IMAGE_SMOKE=1.
 * Without root, buildah, crun or debootstrap, or where buildah cannot run a
 * container, it is skipped with the reason.
 */
import { execFile, spawnSync } from 'node:child_process';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../kubernetes/helpers.js';

function cannotBuild(): string | undefined {
  if (process.env.SLUICE_IMAGE_SMOKE !== '1') return 'set SLUICE_IMAGE_SMOKE=1 to build the images (a few minutes; .ci/run does)';
  if (process.getuid?.() !== 0) return 'needs root (buildah with chroot isolation)';
  for (const tool of ['buildah', 'crun', 'debootstrap']) {
    if (spawnSync('sh', ['-c', `command -v ${tool}`]).status !== 0) return `${tool} is not installed (apt-get install buildah crun debootstrap)`;
  }
  const probe = spawnSync('sh', ['-c', 'c=$(buildah from scratch) && buildah rm "$c"'], { encoding: 'utf8' });
  if (probe.status !== 0) return `buildah cannot create a container here: ${probe.stderr.trim().split('\n').at(-1)}`;
  return undefined;
}

const reason = cannotBuild();

describe('container images', () => {
  if (reason) console.warn(`skipping the image smoke test: ${reason}`);

  it.skipIf(reason !== undefined)('both Dockerfiles build without a registry, and what they hold runs', async (context) => {
    const { code, stdout, stderr } = await new Promise<{ code: number; stdout: string; stderr: string }>((resolve) => {
      execFile('bash', [path.join(repoRoot, 'test/install/image-smoke.sh')], { cwd: repoRoot, maxBuffer: 64 * 1024 * 1024, timeout: 15 * 60_000 }, (error, out, err) =>
        resolve({ code: error ? Number((error as { code?: number }).code ?? 1) : 0, stdout: out, stderr: err }));
    });
    if (code === 77) context.skip(`debootstrap could not build the Debian base (mirror out of reach, or no privileges for it here): ${stderr.trim().split("\n").at(-1)}`);
    expect({ code, tail: stderr.split('\n').slice(-30).join('\n') }).toMatchObject({ code: 0 });
    expect(stdout).toMatch(/^sluice user: 65532:65532$/m);
    expect(stdout).toMatch(/\/examples: valid — /);
    expect(stdout).toMatch(/^Usage: sluice webhook/m);
    expect(stdout).toMatch(/^sluice: no shell$/m);
    expect(stdout).toMatch(/^iptables-restore v[\d.]+ \(nf_tables\)$/m);
    expect(stdout).toMatch(/^iptables-restore v[\d.]+ \(legacy\)$/m);
    expect(stdout).toMatch(/^smoke ok$/m);
    for (const line of stdout.split('\n').filter((l) => l.startsWith('metric '))) console.info(line);
  }, 16 * 60_000);
});
