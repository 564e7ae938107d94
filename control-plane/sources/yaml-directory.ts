/**
 * The default source: a directory of YAML manifests (any depth, multi-document
 * files), watched for changes. Each change lists and stats the whole
 * directory and hands the model the full object set, so it can never drift
 * from what is on disk; only files whose stat changed are read and parsed
 * again (parsed-files.ts).
 *
 * Three kinds of input are refused rather than served (the last good snapshot
 * stays, and the issue is reported like any other):
 *  - a file over the size limit, found by stat before a byte is read, and a
 *    file over the parse budget (see yaml-documents.ts);
 *  - a load with no objects at all after loads that had some: `rm -rf DIR/*`
 *    or a deploy that copied nothing is far likelier than a wish to withdraw
 *    the whole mesh (`allowEmpty` accepts it);
 *  - a missing directory.
 *
 * The watch follows the path, not the inode: deploys replace the directory
 * (`rm -rf DIR && cp -r new DIR`, `mv DIR.new DIR`, a symlink swap), and a
 * watch on the old inode would go on watching a directory nobody reads.
 */
import { watch as watchPath, type FSWatcher as PathWatcher } from 'node:fs';
import { open, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { watch, type FSWatcher } from 'chokidar';
import type { ConfigIssue } from '../core/errors.js';
import type { Logger } from '../log/logger.js';
import type { ConfigSource, LoadResult } from '../core/config-source.js';
import { defaultYamlParseLimits, parseYamlFile, type YamlParseLimits } from './yaml-documents.js';
import type { SourceObject } from '../core/source-object.js';
import { fileSignature, ParsedFiles, type ParsedFile } from './parsed-files.js';

/** 4 MiB: far above any hand-written or rendered manifest file, and what the default parse budget covers. */
export const defaultMaxFileBytes = 4 * 1024 * 1024;

export interface YamlLoadLimits {
  /** Files larger than this are not read. */
  readonly maxFileBytes?: number;
  readonly parse?: YamlParseLimits;
}

const isManifestFile = (name: string) => /\.ya?ml$/i.test(name);
const HELM_CHART_FILE = 'Chart.yaml';
/** Hidden entries are skipped: editors' swap files and Kubernetes ConfigMap mounts' `..data` links. */
const isHidden = (name: string) => name.startsWith('.');

/** 4 MiB, 50 MiB, 1.5 MiB, 10.2 KiB. */
function binarySize(bytes: number): string {
  const [amount, unit] = bytes >= 1024 * 1024 ? [bytes / 1024 / 1024, 'MiB'] : [bytes / 1024, 'KiB'];
  return `${Number.isInteger(amount) ? amount : amount.toFixed(1)} ${unit}`;
}

async function manifestFiles(directory: string): Promise<string[]> {
  const found: string[] = [];
  const walk = async (dir: string, depth: number): Promise<void> => {
    if (depth > 32) return; // symlink loops
    const entries = await readdir(dir, { withFileTypes: true });
    // A Helm chart (examples/helm/sluice): its templates become manifests only when Helm renders them.
    if (dir !== directory && entries.some((e) => e.name === HELM_CHART_FILE)) return;
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

/**
 * Check already-read files (label → YAML text, or raw bytes to be decoded as
 * strict UTF-8). Never throws for bad content: problems are issues.
 */
export function loadFromTexts(files: ReadonlyArray<readonly [label: string, text: string | Uint8Array]>, issues: ConfigIssue[] = [], limits: YamlParseLimits = defaultYamlParseLimits): LoadResult {
  const objects: SourceObject[] = [];
  const ignored: Record<string, number> = {};
  for (const [label, text] of files) {
    const parsed = parseYamlFile(label, text, limits);
    issues.push(...parsed.issues);
    for (const result of parsed.results) {
      if (result.outcome === 'accepted') objects.push(result.object);
      else if (result.outcome === 'rejected') issues.push(...result.issues);
      else ignored[result.kind] = (ignored[result.kind] ?? 0) + 1;
    }
  }
  return { objects, ignored, issues, files: files.length };
}

/** The file's bytes, or an issue when it is over `maxBytes` (decided by fstat, before reading). */
async function readManifest(file: string, label: string, maxBytes: number): Promise<Uint8Array | ConfigIssue> {
  const handle = await open(file, 'r');
  try {
    const { size } = await handle.stat();
    if (size > maxBytes) {
      return {
        code: 'unreadable-file',
        message: `file is ${size} bytes (${binarySize(size)}); the limit is ${binarySize(maxBytes)} per file (sluice serve --max-config-file-mib), so it was not read; split it into smaller files`,
        location: { file: label, line: 1, column: 1 },
      };
    }
    // Read what stat promised and no more: a file growing meanwhile is read again on its change event.
    const bytes = Buffer.allocUnsafe(size);
    let filled = 0;
    while (filled < size) {
      const { bytesRead } = await handle.read(bytes, filled, size - filled, filled);
      if (bytesRead === 0) break;
      filled += bytesRead;
    }
    return bytes.subarray(0, filled);
  } finally {
    await handle.close();
  }
}

/**
 * Read and check every manifest under `directory`. Never throws for bad
 * content: problems are issues. With `cache`, files unchanged since the last
 * load are not read or parsed again.
 */
export async function loadDirectory(directory: string, limits: YamlLoadLimits = {}, cache?: ParsedFiles): Promise<LoadResult> {
  const issues: ConfigIssue[] = [];
  const maxFileBytes = limits.maxFileBytes ?? defaultMaxFileBytes;
  let paths: string[];
  try {
    paths = await manifestFiles(directory);
  } catch (error) {
    const missing = (error as NodeJS.ErrnoException).code === 'ENOENT';
    return {
      objects: [],
      ignored: {},
      files: 0,
      issues: [{
        code: 'unreadable-file',
        message: missing
          ? 'cannot read directory: it does not exist (being replaced, or removed); the last good configuration stays served until it is back'
          : `cannot read directory: ${(error as Error).message}`,
        location: { file: directory, line: 1, column: 1 },
      }],
    };
  }
  cache?.begin();
  const objects: SourceObject[] = [];
  const ignored: Record<string, number> = {};
  const add = (parsed: ParsedFile) => {
    objects.push(...parsed.objects);
    issues.push(...parsed.issues);
    for (const [kind, count] of Object.entries(parsed.ignored)) ignored[kind] = (ignored[kind] ?? 0) + count;
  };
  for (const file of paths) {
    const relative = path.relative(process.cwd(), file);
    // Short paths for files under the working directory, absolute ones elsewhere.
    const label = relative && !relative.startsWith('..') ? relative : file;
    try {
      const signature = cache ? fileSignature(await stat(file, { bigint: true })) : '';
      const known = cache?.get(file, signature);
      if (known) {
        add(known);
        continue;
      }
      const read = await readManifest(file, label, maxFileBytes);
      // A file refused unread is not cached: it is looked at again next time.
      if (!(read instanceof Uint8Array)) {
        issues.push(read);
        continue;
      }
      const parsed = parseFile(label, read, limits.parse);
      cache?.set(file, signature, parsed);
      add(parsed);
    } catch (error) {
      // A file deleted between listing and reading is simply gone.
      if ((error as NodeJS.ErrnoException).code === 'ENOENT') continue;
      issues.push({ code: 'unreadable-file', message: `cannot read: ${(error as Error).message}`, location: { file: label, line: 1, column: 1 } });
    }
  }
  cache?.finish();
  // Files refused unread still count as files of the configuration.
  return { objects, ignored, issues, files: paths.length };
}

function parseFile(label: string, bytes: Uint8Array, limits: YamlParseLimits = defaultYamlParseLimits): ParsedFile {
  const issues: ConfigIssue[] = [];
  const load = loadFromTexts([[label, bytes]], issues, limits);
  return { objects: load.objects, ignored: load.ignored, issues: load.issues };
}

export interface YamlDirectorySourceOptions extends YamlLoadLimits {
  readonly directory: string;
  /** Quiet period after the last file event before reloading (editors write files in several steps). */
  readonly settleMs?: number;
  readonly watch?: boolean;
  /** Serve a load with no objects even after loads that had some (default: hold it and report it). */
  readonly allowEmpty?: boolean;
  /** How often the directory's identity is re-checked, in case an event on its parent was missed. */
  readonly pollMs?: number;
  readonly logger: Logger;
}

/** Which directory the path names now: device and inode of its target (a symlink is followed). */
async function identityOf(directory: string): Promise<string | undefined> {
  const info = await stat(directory).catch(() => undefined);
  return info?.isDirectory() ? `${info.dev}:${info.ino}` : undefined;
}

export class YamlDirectorySource implements ConfigSource {
  readonly description: string;
  #watcher?: FSWatcher;
  #parentWatcher?: PathWatcher;
  #poll?: NodeJS.Timeout;
  /** The directory #watcher watches (see identityOf); undefined while the path names nothing. */
  #watched?: string;
  #timer?: NodeJS.Timeout;
  #loading: Promise<void> = Promise.resolve();
  #stopped = false;
  /** Files parsed by earlier loads, reused while unchanged. */
  readonly #parsed = new ParsedFiles();
  /** Some earlier load had objects: an empty one now is held as suspicious. */
  #hadObjects = false;

  constructor(private readonly options: YamlDirectorySourceOptions) {
    this.description = `directory ${options.directory}`;
  }

  async start(onLoad: (load: LoadResult) => void): Promise<void> {
    const watching = this.options.watch !== false;
    const reload = async () => {
      if (this.#stopped) return;
      // Watch first, then read: a file written in between is then both read and seen.
      if (watching) await this.#follow();
      const load = this.#holdEmpty(await loadDirectory(this.options.directory, this.options, this.#parsed));
      this.options.logger.debug({ files: load.files, parsed: this.#parsed.parsedThisLoad }, 'configuration read');
      if (!this.#stopped) onLoad(load);
    };
    this.#schedule = (reason: string) => {
      if (this.#stopped) return;
      this.options.logger.debug({ reason }, 'configuration changed');
      clearTimeout(this.#timer);
      // Reloads are chained so two never interleave and the last one always sees the final state.
      this.#timer = setTimeout(() => {
        this.#loading = this.#loading.then(reload, reload);
      }, this.options.settleMs ?? 50);
    };
    if (watching) this.#watchParent();
    await reload();
  }

  #schedule: (reason: string) => void = () => undefined;

  /** Point the file watcher at whatever the path names now; returns once it is watching. */
  async #follow(): Promise<void> {
    const directory = this.options.directory;
    const identity = await identityOf(directory);
    if (identity === this.#watched && (this.#watcher || identity === undefined)) return;
    if (this.#watcher) {
      this.options.logger.info({ directory, from: this.#watched ?? null, to: identity ?? null }, identity ? 'configuration directory replaced; watching the new one' : 'configuration directory is gone; keeping the last good configuration');
      await this.#watcher.close();
      this.#watcher = undefined;
    }
    this.#watched = identity;
    if (!identity || this.#stopped) return;
    const watcher = watch(directory, {
      ignoreInitial: true,
      ignored: (file, stats) => isHidden(path.basename(file)) && file !== directory || (stats?.isFile() === true && !isManifestFile(file)),
    });
    this.#watcher = watcher;
    watcher.on('all', (event, file) => this.#schedule(`${event} ${file}`));
    watcher.on('error', (error) => this.options.logger.error({ err: error }, 'watching the configuration directory failed'));
    await new Promise<void>((resolve) => watcher.once('ready', () => resolve()));
  }

  /**
   * The parent directory is where a replacement shows: an entry named like
   * ours is removed, created, renamed over or re-pointed. A slow poll of the
   * path's identity backs it up (events can be missed, the parent replaced).
   */
  #watchParent(): void {
    const directory = path.resolve(this.options.directory);
    const name = path.basename(directory);
    try {
      const parent = watchPath(path.dirname(directory), (_event, file) => {
        if (file === null || file === name) this.#schedule(`parent: ${String(file)}`);
      });
      parent.on('error', (error) => {
        this.options.logger.warn({ err: error, directory }, 'watching the parent of the configuration directory failed; polling only');
        parent.close();
      });
      this.#parentWatcher = parent;
    } catch (error) {
      this.options.logger.warn({ err: error, directory }, 'cannot watch the parent of the configuration directory; polling only');
    }
    this.#poll = setInterval(() => {
      void identityOf(this.options.directory).then((identity) => {
        if (identity !== this.#watched) this.#schedule('directory identity changed');
      });
    }, this.options.pollMs ?? 2_000);
    this.#poll.unref();
  }

  #holdEmpty(load: LoadResult): LoadResult {
    if (load.objects.length > 0) {
      this.#hadObjects = true;
      return load;
    }
    if (!this.#hadObjects || this.options.allowEmpty || load.issues.length > 0) return load;
    const issue: ConfigIssue = {
      code: 'unreadable-file',
      message: `the directory now holds no objects (${load.files} manifest files) after serving some; held as suspicious (an emptied directory is more often a failed deploy than a wish to remove every service), so the last good configuration stays served. Start sluice serve with --allow-empty-config to accept an empty configuration`,
      location: { file: this.options.directory, line: 1, column: 1 },
    };
    this.options.logger.warn({ directory: this.options.directory, files: load.files }, 'configuration directory is empty; keeping the last good configuration');
    return { ...load, issues: [issue] };
  }

  async stop(): Promise<void> {
    this.#stopped = true;
    clearTimeout(this.#timer);
    clearInterval(this.#poll);
    this.#parentWatcher?.close();
    await this.#loading;
    await this.#watcher?.close();
  }
}
