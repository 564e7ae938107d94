/**
 * The web console in a real headless browser (Debian's chromium, driven by
 * playwright-core): a control plane with a canary driven by real
 * @grpc/grpc-js-xds clients' LRS reports, the page open at /console, and the
 * canary's progress appearing on it live — no reload, no console error, plots
 * with data drawn on their canvases. Screenshots go to test-artifacts/
 * (SLUICE_UPDATE_SCREENSHOTS=1 also refreshes docs/images/console-canary.png).
 * Skips, saying why, only where chromium is not installed.
 */
import { register } from '@grpc/grpc-js-xds';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { chromium, type BrowserContext, type Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startControlPlane } from '../support/control-plane.js';
import { echoCanary, echoServiceManifests, echoStablePolicy, startEchoBackend, xdsEchoClient, type EchoBackend } from '../support/echo-backend.js';
import { meshFiles, namespaceOf, serviceName } from '../support/generated-mesh.js';

register();

const chromiumPath = ['/usr/bin/chromium', '/usr/bin/chromium-browser'].find((p) => existsSync(p));
const reason = 'chromium is not installed (apt-get install chromium; .ci/run does it)';
if (!chromiumPath) process.stderr.write(`console-browser.test.ts skipped: ${reason}\n`);

const artifacts = path.resolve('test-artifacts');
const target = 'echo.shop.svc.cluster.local:9090';

const mesh = (v1: EchoBackend, v2: EchoBackend) => `${echoServiceManifests([v1, v2])}---
${echoStablePolicy}`;

/** Written once the page is open, so the whole release happens in front of it. */
const canary = echoCanary({ steps: [20, 40, 60, 80], interval: '1200ms', threshold: 5, metrics: '    - { name: success-rate, min: 95, source: lrs, minRequests: 10 }' });

/** Fifteen more services, so the mesh is past the size where the page plots every service. */
const otherServices = { services: 15, versions: 2, endpointsPerVersion: 1, namespaces: 3 };

const backends: EchoBackend[] = [];
let running: Awaited<ReturnType<typeof startControlPlane>> | undefined;
let context: BrowserContext | undefined;
let profile = '';
let loadRunning = true;
let loops: Promise<void>[] = [];
let client: ReturnType<typeof xdsEchoClient> | undefined;

/** Problems the page reported: console errors and uncaught exceptions. */
const pageErrors: string[] = [];

async function openConsole(): Promise<Page> {
  const page = await context!.newPage();
  page.on('console', (message) => {
    if (message.type() === 'error') pageErrors.push(`console: ${message.text()}`);
  });
  page.on('pageerror', (error) => pageErrors.push(`exception: ${error.message}`));
  const response = await page.goto(`http://127.0.0.1:${running!.controlPlane.admin.port}/console`);
  // Served under a strict Content-Security-Policy: any inline script or foreign load would be a console error below.
  expect(response?.headers()['content-security-policy']).toContain("default-src 'self'");
  return page;
}

/** Points a plot holds, and how many of its canvas pixels are drawn. */
async function plotState(page: Page, id: string): Promise<{ points: number; painted: number }> {
  // Runs in the page (given as source: this project's types have no DOM).
  return page.evaluate(`(() => {
    const holder = document.querySelector('[data-plot="' + CSS.escape(${JSON.stringify(id)}) + '"]');
    const canvas = holder && holder.querySelector('canvas');
    if (!holder || !canvas) return { points: 0, painted: 0 };
    const pixels = canvas.getContext('2d').getImageData(0, 0, canvas.width, canvas.height).data;
    let painted = 0;
    for (let i = 3; i < pixels.length; i += 4) if (pixels[i] > 0) painted++;
    return { points: Number(holder.dataset.points || 0), painted };
  })()`);
}

describe.skipIf(!chromiumPath)(`the web console in headless chromium${chromiumPath ? '' : ` (skipped: ${reason})`}`, () => {
  beforeAll(async () => {
    backends.push(await startEchoBackend('v1'), await startEchoBackend('v2'));
    running = await startControlPlane({ 'mesh.yaml': mesh(backends[0]!, backends[1]!), ...Object.fromEntries(meshFiles(otherServices)) }, { telemetry: { slotMs: 100, lrsReportIntervalMs: 150 }, console: { sampleMs: 250, rateWindowMs: 2000 } });
    client = xdsEchoClient(target, running.xdsAddress, { id: 'storefront-7f9c.shop', metadata: { namespace: 'shop', mode: 'proxyless' } });
    const loop = async (headers: Record<string, string>) => {
      while (loadRunning) {
        await client!.whoami(headers, 2000).catch(() => undefined);
        await new Promise((r) => setTimeout(r, 3));
      }
    };
    loops = [loop({}), loop({}), loop({ 'x-user-id': 'u-1' })];
    await mkdir(artifacts, { recursive: true });
    profile = await mkdtemp(path.join(tmpdir(), 'sluice-chromium-'));
    context = await chromium.launchPersistentContext(profile, {
      executablePath: chromiumPath,
      headless: true,
      viewport: { width: 1440, height: 900 },
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking', '--disable-component-update', '--disable-sync'],
      timeout: 30_000,
    });
  }, 60_000);

  afterAll(async () => {
    await context?.close();
    loadRunning = false;
    await Promise.all(loops);
    client?.close();
    await running?.stop();
    for (const backend of backends) await backend.stop();
    if (profile) await rm(profile, { recursive: true, force: true });
  });

  it('shows the canary moving live: weight, metrics against their bound, decisions; plots drawn; no page errors', async () => {
    const page = await openConsole();
    await page.locator('[data-service="echo.shop.svc.cluster.local"]').waitFor({ timeout: 10_000 });
    expect(await page.locator('#canary-list').innerText()).toMatch(/No canary is being served/);
    // Set once: still there at the end means the page was updated in place, never reloaded.
    await page.evaluate('window.sluiceTestMarker = 42');
    await running!.config.write('canary.yaml', canary);
    const card = page.locator('[data-canary="shop/echo"]');
    await card.waitFor({ timeout: 10_000 });
    const seen: number[] = [];
    const weightOnPage = async () => Number(await card.getAttribute('data-weight'));
    const deadline = Date.now() + 40_000;
    while (Date.now() < deadline) {
      const weight = await weightOnPage();
      if (seen[seen.length - 1] !== weight) seen.push(weight);
      if (weight >= 40) break;
      await page.waitForTimeout(100);
    }
    expect(seen).toContain(20);
    expect(seen[seen.length - 1]).toBeGreaterThanOrEqual(40);
    // The weight plot, the success-rate plot and its bound, drawn with data.
    await expect.poll(async () => (await plotState(page, 'shop/echo/weight')).points, { timeout: 5000 }).toBeGreaterThan(10);
    expect((await plotState(page, 'shop/echo/weight')).painted).toBeGreaterThan(500);
    await expect.poll(async () => (await plotState(page, 'shop/echo/metric/success-rate')).points, { timeout: 5000 }).toBeGreaterThan(2);
    expect((await plotState(page, 'shop/echo/metric/success-rate')).painted).toBeGreaterThan(500);
    // Every decision with its reason: the controller's own words.
    await expect.poll(async () => card.locator('.decisions').innerText(), { timeout: 5000 }).toMatch(/CohortTesting → Progressing[\s\S]*cohort checks passed/);
    expect(await card.locator('.decisions').innerText()).toMatch(/canary weight 40% \(step 2\/4\)/);
    // The service: per-version rate, live split (the canary's route), rate plot.
    const service = page.locator('[data-service="echo.shop.svc.cluster.local"]');
    await expect.poll(async () => Number((await service.locator('tr[data-version="v2"] td').nth(2).innerText()) || 0), { timeout: 5000 }).toBeGreaterThan(1);
    expect(await service.locator('.routes').innerText()).toMatch(/canary-cohort[\s\S]*u-1, u-2[\s\S]*canary-split/);
    expect((await plotState(page, 'echo.shop.svc.cluster.local/rps')).painted).toBeGreaterThan(500);
    // The connected proxyless client, in sync.
    const proxyRow = page.locator('tr[data-proxy="storefront-7f9c.shop"]');
    await expect.poll(async () => proxyRow.innerText(), { timeout: 5000 }).toMatch(/SYNCED/);
    // The canary keeps pushing (a step every 1.2 s): between a push and its ACK the proxy is briefly stale.
    await expect.poll(async () => page.locator('#proxy-count').innerText(), { timeout: 5000, interval: 50 }).toBe('1 connected: 1 synced, 0 stale, 0 rejecting configuration');
    await page.screenshot({ path: path.join(artifacts, 'console-canary.png') });
    if (process.env.SLUICE_UPDATE_SCREENSHOTS === '1') await page.screenshot({ path: path.resolve('docs/images/console-canary.png') });
    await page.screenshot({ path: path.join(artifacts, 'console-full.png'), fullPage: true });
    // Promotion reaches the page too.
    await expect.poll(weightOnPage, { timeout: 30_000, interval: 200 }).toBe(100);
    await expect.poll(async () => card.getAttribute('data-phase'), { timeout: 10_000 }).toBe('Succeeded');
    await page.screenshot({ path: path.join(artifacts, 'console-promoted.png'), fullPage: true });
    // A large mesh: filter the services, open one, and its plots come with its history.
    await page.fill('#service-filter', serviceName(3));
    expect(await page.locator('#service-count').innerText()).toBe('showing 1 of 16 services');
    const other = `${serviceName(3)}.${namespaceOf(3, otherServices)}.svc.cluster.local`;
    expect((await plotState(page, `${other}/rps`)).points).toBe(0);
    await page.locator(`tbody[data-service="${other}"] button.toggle`).click();
    await expect.poll(async () => (await plotState(page, `${other}/rps`)).points, { timeout: 5000 }).toBeGreaterThan(20);
    expect(await page.evaluate('window.sluiceTestMarker')).toBe(42);
    expect(await page.locator('#status').getAttribute('class')).toContain('live');
    expect(pageErrors).toEqual([]);
    await page.close();
  }, 90_000);
});
