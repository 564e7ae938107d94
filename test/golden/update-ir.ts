import { mkdir, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { irCases, irRoot, renderIrCase } from './ir-cases.js';

/** Rewrites the IR → Envoy goldens; returns how many were written. */
export default async function updateIrGoldens(): Promise<number> {
  const outDir = path.join(irRoot, 'out');
  await rm(outDir, { recursive: true, force: true });
  await mkdir(outDir, { recursive: true });
  let written = 0;
  for (const name of await irCases()) {
    for (const [file, content] of await renderIrCase(name)) {
      await writeFile(path.join(outDir, file), content);
      written++;
    }
  }
  return written;
}
