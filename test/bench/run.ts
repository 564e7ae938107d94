/**
 * `npm run bench`: runs every `test/bench/*.bench.ts` (or only those whose
 * name contains an argument: `npm run bench -- translate`) and prints figures.
 * Each bench module exports `run(): Promise<void>` and prints its own lines.
 */
import { readdir } from 'node:fs/promises';
import { fileURLToPath, pathToFileURL } from 'node:url';
import path from 'node:path';

const here = path.dirname(fileURLToPath(import.meta.url));
const filters = process.argv.slice(2);
const files = (await readdir(here)).filter((f) => f.endsWith('.bench.ts')).sort();
for (const file of files) {
  if (filters.length > 0 && !filters.some((f) => file.includes(f))) continue;
  process.stdout.write(`\n== ${file.replace('.bench.ts', '')} ==\n`);
  const mod = (await import(pathToFileURL(path.join(here, file)).href)) as { run: () => Promise<void> };
  await mod.run();
}
