/**
 * `npm run generate:envoy`: regenerates control-plane/envoy/generated/ (the
 * TypeScript types and descriptors of Envoy's protos, for @bufbuild/protobuf)
 * with `buf generate` and protoc-gen-es, both from npm, so it runs offline.
 *
 * The protos are read from `@grpc/grpc-js-xds`'s deps through symlinks in a
 * temporary buf workspace; nothing is copied into the repository. Only the
 * closure of ENVOY_PROTO_FILES is generated (`include_imports`); the
 * google/protobuf well-known types come with @bufbuild/protobuf itself.
 *
 * One adjustment, made in the temporary workspace only: the PGV
 * validate.proto vendored in grpc-js-xds predates `ignore_empty`, which
 * Envoy's protos already use, so a strict compiler rejects them (protobufjs
 * does not check option aggregates). The field is added to each rule message
 * with the number upstream PGV gives it.
 */
import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { createFileRegistry, fromBinary } from '@bufbuild/protobuf';
import { FileDescriptorSetSchema } from '@bufbuild/protobuf/wkt';
import { protoNameJsonTypes } from './generate-json-types.js';
import { ENVOY_PROTO_FILES, ENVOY_PROTO_INCLUDE_DIRS } from './proto-registry.js';

const run = promisify(execFile);
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
export const GENERATED_DIR = path.join(here, 'generated');

/** Upstream PGV's field number of `ignore_empty` in each rule message. */
const IGNORE_EMPTY_FIELD: Readonly<Record<string, number>> = {
  StringRules: 26,
  BytesRules: 16,
  RepeatedRules: 5,
  MapRules: 6,
  ...Object.fromEntries(
    ['Int32', 'Int64', 'UInt32', 'UInt64', 'SInt32', 'SInt64', 'Fixed32', 'Fixed64', 'SFixed32', 'SFixed64', 'Float', 'Double'].map((k) => [`${k}Rules`, 8]),
  ),
};

function withIgnoreEmpty(validateProto: string): string {
  let text = validateProto;
  for (const [message, number] of Object.entries(IGNORE_EMPTY_FIELD)) {
    const header = new RegExp(`message ${message} \\{\\r?\\n`); // the vendored file has CRLF line ends
    if (!header.test(text)) throw new Error(`validate.proto has no "${message}"; the patch for ignore_empty needs updating`);
    if (new RegExp(`message ${message} \\{[^}]*ignore_empty`).test(text)) continue; // a newer PGV already has it
    text = text.replace(header, (line) => `${line}    optional bool ignore_empty = ${number};\n`);
  }
  return text;
}

/** Builds the temporary buf workspace; returns its directory and the `--path` arguments. */
async function workspace(): Promise<{ dir: string; paths: string[] }> {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'sluice-envoy-gen-'));
  const includeDirs = ENVOY_PROTO_INCLUDE_DIRS.filter((d) => !d.includes(`${path.sep}protobufjs`));
  const modules: string[] = [];
  for (const [i, includeDir] of includeDirs.entries()) {
    const name = `m${i}`;
    modules.push(name);
    if (path.basename(includeDir) === 'protoc-gen-validate') {
      // Only validate/validate.proto (the rest of PGV's tree has its own tests and java protos).
      await fs.mkdir(path.join(dir, name, 'validate'), { recursive: true });
      const original = await fs.readFile(path.join(includeDir, 'validate', 'validate.proto'), 'utf8');
      await fs.writeFile(path.join(dir, name, 'validate', 'validate.proto'), withIgnoreEmpty(original));
    } else if (path.basename(includeDir) === 'proto') {
      // The repo's own proto/ dir: only the Prometheus model the metrics service imports.
      await fs.mkdir(path.join(dir, name));
      await fs.symlink(path.join(includeDir, 'io'), path.join(dir, name, 'io'));
    } else {
      await fs.symlink(includeDir, path.join(dir, name));
    }
  }
  await fs.writeFile(path.join(dir, 'buf.yaml'), `version: v2\nmodules:\n${modules.map((m) => `  - path: ${m}\n`).join('')}`);
  const paths: string[] = [];
  for (const file of ENVOY_PROTO_FILES) {
    if (file.startsWith('google/protobuf/')) continue;
    const index = includeDirs.findIndex((d) => existsSync(path.join(d, file)));
    if (index < 0) throw new Error(`${file} is in none of the include directories`);
    paths.push('--path', path.join(modules[index]!, file));
  }
  return { dir, paths };
}

/** Generates into `outDir` (emptied first, its README.md kept). */
export async function generateEnvoyTypes(outDir: string = GENERATED_DIR): Promise<void> {
  const { dir, paths } = await workspace();
  try {
    const template = {
      version: 'v2',
      plugins: [
        {
          local: path.join(repoRoot, 'node_modules', '.bin', 'protoc-gen-es'),
          out: outDir,
          include_imports: true,
          // One plugin run for the whole closure (buf's default starts one per directory).
          strategy: 'all',
          opt: ['target=ts', 'json_types=true', 'import_extension=js'],
        },
      ],
    };
    await fs.mkdir(outDir, { recursive: true });
    for (const entry of await fs.readdir(outDir)) {
      if (entry !== 'README.md') await fs.rm(path.join(outDir, entry), { recursive: true, force: true });
    }
    const buf = path.join(repoRoot, 'node_modules', '.bin', 'buf');
    // Compiled once into an image (the closure, imports marked as such), which
    // feeds both protoc-gen-es and the proto-name JSON types.
    const image = path.join(dir, 'image.binpb');
    await run(buf, ['build', '-o', image, ...paths], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    await run(buf, ['generate', image, '--template', JSON.stringify(template)], { cwd: dir, maxBuffer: 16 * 1024 * 1024 });
    const registry = createFileRegistry(fromBinary(FileDescriptorSetSchema, await fs.readFile(image)));
    await fs.writeFile(path.join(outDir, 'proto-json-types.ts'), protoNameJsonTypes(registry));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
  await fs.writeFile(path.join(outDir, 'files.ts'), await filesModule(outDir));
}

/** The Google well-known types Envoy's protos import; @bufbuild/protobuf ships their descriptors. */
const WELL_KNOWN_FILES = ['any', 'duration', 'timestamp', 'wrappers', 'struct', 'empty', 'field_mask', 'descriptor'];

/**
 * `files.ts`: every generated file descriptor in one list, because a
 * registry built from a file does not pull in that file's imports.
 */
async function filesModule(outDir: string): Promise<string> {
  const generated = (await fs.readdir(outDir, { recursive: true }))
    .filter((f) => f.endsWith('_pb.ts'))
    .map((f) => f.split(path.sep).join('/'))
    .sort();
  const symbol = (protoPath: string) => `file_${protoPath.replace(/\.proto$/, '').replace(/[^A-Za-z0-9]/g, '_')}`;
  const lines = [
    '// @generated by control-plane/envoy/generate.ts (npm run generate:envoy); do not edit.',
    'import type { GenFile } from "@bufbuild/protobuf/codegenv2";',
    `import { ${WELL_KNOWN_FILES.map((n) => symbol(`google/protobuf/${n}.proto`)).join(', ')} } from "@bufbuild/protobuf/wkt";`,
    ...generated.map((f) => `import { ${symbol(f.replace(/_pb\.ts$/, '.proto'))} } from "./${f.replace(/\.ts$/, '.js')}";`),
    '',
    '/** Every file descriptor of the generated closure, and the well-known types. */',
    'export const envoyFiles: readonly GenFile[] = [',
    ...WELL_KNOWN_FILES.map((n) => `  ${symbol(`google/protobuf/${n}.proto`)},`),
    ...generated.map((f) => `  ${symbol(f.replace(/_pb\.ts$/, '.proto'))},`),
    '];',
    '',
  ];
  return lines.join('\n');
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  await generateEnvoyTypes();
  process.stdout.write(`generated ${path.relative(process.cwd(), GENERATED_DIR)}\n`);
}
