/** `npm run generate`: rewrites the files derived from the policy API definition. */
import { mkdir, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { allArtifacts } from './artifacts.js';

const root = process.cwd();
for (const [file, content] of await allArtifacts(root)) {
  await mkdir(path.dirname(path.join(root, file)), { recursive: true });
  await writeFile(path.join(root, file), content);
  process.stdout.write(`wrote ${file}\n`);
}
