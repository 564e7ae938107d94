/**
 * The default source: a directory of YAML manifests (any depth, multi-document
 * files), watched for changes. Each change reloads the whole directory — a few
 * thousand objects parse in tens of milliseconds, and a full reload can never
 * drift from what is on disk the way incremental patching could.
 */
import { readdir, readFile, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { ConfigIssue } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { ConfigSource, LoadResult } from '../core/config-source.js';
import { parseYamlFile } from './yaml-documents.js';
import type { SourceObject } from '../core/source-object.js';

const isManifestFile = (name: string) => /\.ya?ml$/i.test(name);
/** Hidden entries are skipped: editors' swap files and Kubernetes ConfigMap mounts' `..data` links. */
const isHidden = (name: string) => name.startsWith('.');

async function manifestFiles(directory: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32) return; // symlink loops
    const entries = await readdir(dir, { withFileTypes: true });
    for (const entry of entries) {
      if (isHidden(entry.name)) continue;
      const full = path.join(dir, entry.name);
      const info = entry.isSymbolicLink() ? await stat(full).catch(() => undefined) : entry;
      if (!info) continue;
      if (info.isDirectory()) await walk(full, depth + 1);
      else if (info.isFile() && isManifestFile(entry.name)) found.push(full);
    }
  };
  await walk(directory, 0);
  return found.sort();
}

/** Check already-read files (label → YAML text). Never throws for bad content: problems are issues. */
export function loadFromTexts(files: ReadonlyArray<readonly [label: string, text: string]>, issues: ConfigIssue[] = []): LoadResult {
  const objects: SourceObject[] = [];
  const ignored: Record<string, number> = {};
  for (const [label, text] of files) {
    const parsed = parseYamlFile(label, text);
    issues.push(...parsed.issues);
    for (const result of parsed.results) {
      if (result.outcome === 'accepted') objects.push(result.object);
      else if (result.outcome === 'rejected') issues.push(...result.issues);
      else ignored[result.kind] = (ignored[result.kind] ?? 0) + 1;
    }
  }
  return { objects, ignored, issues, files: files.length };
}

/** Read and check every manifest under `directory`. Never throws for bad content: problems are issues. */
export async function loadDirectory(directory: string): Promise<LoadResult> {
  const issues: ConfigIssue[] = [];
  let paths: string[];
  try {
    paths = await manifestFiles(directory);
  } catch (error) {
    return { objects: [], ignored: {}, files: 0, issues: [{ code: 'unreadable-file', message: `cannot read directory: ${(error as Error).message}`, location: { file: directory, line: 1, column: 1 } }] };
  }
  const texts: Array<[string, string]> = [];
  for (const file of paths) {
    const relative = path.relative(process.cwd(), file);
    // Short paths for files under the working directory, absolute ones elsewhere.
    const label = relative && !relative.startsWith('..') ? relative : file;
    try {
      texts.push([label, await readFile(file, 'utf8')]);
    } catch (error) {
      // A file deleted between listing and reading is simply gone.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      issues.push({ code: 'unreadable-file', message: `cannot read: ${(error as Error).message}`, location: { file: label, line: 1, column: 1 } });
    }
  }
  return loadFromTexts(texts, issues);
}

export interface YamlDirectorySourceOptions {
  readonly directory: string;
  /** Quiet period after the last file event before reloading (editors write files in several steps). */
  readonly settleMs?: number;
  readonly watch?: boolean;
  readonly logger: Logger;
}

export class YamlDirectorySource implements ConfigSource {
  readonly description: string;
  #watcher?: FSWatcher;
  #timer?: NodeJS.Timeout;
  #loading: Promise<void> = Promise.resolve();
  #stopped = false;

  constructor(private readonly options: YamlDirectorySourceOptions) {
    this.description = `directory ${options.directory}`;
  }

  async start(onLoad: (load: LoadResult) => void): Promise<void> {
    const reload = async () => {
      if (this.#stopped) return;
      const load = await loadDirectory(this.options.directory);
      if (!this.#stopped) onLoad(load);
    };
    await reload();
    if (this.options.watch === false) return;
    const watcher = watch(this.options.directory, {
      ignoreInitial: true,
      ignored: (file, stats) => isHidden(path.basename(file)) && file !== this.options.directory || (stats?.isFile() === true && !isManifestFile(file)),
    });
    this.#watcher = watcher;
    const schedule = (file: string) => {
      this.options.logger.debug({ file }, 'configuration file changed');
      clearTimeout(this.#timer);
      // Reloads are chained so two never interleave and the last one always sees the final state.
      this.#timer = setTimeout(() => {
        this.#loading = this.#loading.then(reload, reload);
      }, this.options.settleMs ?? 50);
    };
    watcher.on('all', (_event, file) => schedule(file));
    watcher.on('error', (error) => this.options.logger.error({ err: error }, 'watching the configuration directory failed'));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    await this.#watcher?.close();
    await this.#loading;
  }
}
