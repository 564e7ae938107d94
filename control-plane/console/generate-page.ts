/**
 * Writes page.generated.ts from assets/ (index.html, console.js, console.css):
 * the console's page travels inside the compiled JavaScript, so any build of
 * dist/ (a container image copying dist/ and node_modules/ only) serves it.
 * Edit the files in assets/, then run:
 *
 *   npx tsx control-plane/console/generate-page.ts
 *
 * test/observability/console-page.test.ts fails when the two drift apart.
 */
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const here = path.dirname(fileURLToPath(import.meta.url));
export const pageAssetFiles = ['index.html', 'console.js', 'console.css'] as const;
export const generatedPagePath = path.join(here, 'page.generated.ts');

export function renderPageModule(assetDir = path.join(here, 'assets')): string {
  const entries = pageAssetFiles.map((file) => `  ${JSON.stringify(file)}: ${JSON.stringify(readFileSync(path.join(assetDir, file), 'utf8'))},`);
  return `// Generated from control-plane/console/assets/ by control-plane/console/generate-page.ts. Do not edit.\nexport const pageAssets: Readonly<Record<${pageAssetFiles.map((f) => JSON.stringify(f)).join(' | ')}, string>> = {\n${entries.join('\n')}\n};\n`;
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  writeFileSync(generatedPagePath, renderPageModule());
  process.stdout.write(`wrote ${path.relative(process.cwd(), generatedPagePath)}\n`);
}
