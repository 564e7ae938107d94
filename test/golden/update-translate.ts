import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { failureCases, goldenRoot, renderFailureCase, renderTranslationCase, translationCases } from './translate-cases.js';

/** Rewrites every translation golden file; returns how many were written. */
export default async function updateTranslationGoldens(): Promise<number> {
  let written = 0;
  for (const name of await translationCases()) {
    const outDir = path.join(goldenRoot, name, 'out');
    await rm(outDir, { recursive: true, force: true });
    await mkdir(outDir, { recursive: true });
    for (const [file, content] of await renderTranslationCase(name)) {
      await writeFile(path.join(outDir, file), content);
      written++;
    }
  }
  for (const name of await failureCases()) {
    await writeFile(path.join(goldenRoot, 'failures', name, 'expected-errors.txt'), await renderFailureCase(name));
    written++;
  }
  return written;
}
