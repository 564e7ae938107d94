/**
 * `npm run golden:update`: regenerates every golden file by running each
 * `test/golden/update-*.ts` module's default export. Review the diff before committing.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const files = (await readdir(here)).filter((f) => /^update-.+\.ts$/.test(f)).sort();
for (const file of files) {
  const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { default: () => Promise<number> };
  const written = await mod.default();
  process.stdout.write(`${file}: ${written} golden files written\n`);
}
