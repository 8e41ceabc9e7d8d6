/**
 * A package-lock.json for a fresh consumer project, cut out of this repository's lockfile, so that the
 * packed tarball can be installed with `npm ci --offline` from the npm cache `npm ci` filled here.
 *
 * Why not `npm install --offline <tarball> aws-cdk-lib …`: npm 11 resolves new specs from *full*
 * packuments, while `npm ci` (this repository's lockfile has no `resolved` URLs) caches only the abbreviated
 * ones; and a range would pick the newest version, whose tarball is not cached. A lockfile pins exactly the
 * versions this repository installed, and installing from it needs only what is cached.
 */

interface LockEntry {
  version?: string;
  resolved?: string;
  integrity?: string;
  dependencies?: Record<string, string>;
  optionalDependencies?: Record<string, string>;
  peerDependencies?: Record<string, string>;
  peerDependenciesMeta?: Record<string, { optional?: boolean }>;
  [field: string]: unknown;
}

export interface Lockfile {
  name: string;
  lockfileVersion: number;
  requires: boolean;
  packages: Record<string, LockEntry>;
}

export interface ConsumerLockfileOptions {
  /** This repository's lockfile. */
  repoLockfile: Lockfile;
  /** The consumer's package name. */
  name: string;
  /** The tarball's entry: `node_modules/<name>` in the consumer, from its packed package.json. */
  tarball: { packageName: string; version: string; file: string; integrity: string; manifest: LockEntry };
  /** Root dependencies besides the tarball, pinned to the versions this repository installed. */
  dependencies: readonly string[];
}

/** Flags that described the package's place in *this* repository (a devDependency…), not in the consumer. */
const REPOSITORY_FLAGS = ['dev', 'devOptional', 'peer', 'optional', 'extraneous'] as const;

export function consumerLockfile(options: ConsumerLockfileOptions): {
  packageJson: Record<string, unknown>;
  lockfile: Lockfile;
} {
  const repo = options.repoLockfile.packages;
  const rootDependencies: Record<string, string> = {
    [options.tarball.packageName]: `file:${options.tarball.file}`,
  };
  for (const name of options.dependencies) {
    const version = repo[`node_modules/${name}`]?.version;
    if (version === undefined) throw new Error(`${name} is not in this repository's lockfile`);
    rootDependencies[name] = version;
  }

  const packages: Record<string, LockEntry> = {
    '': { name: options.name, dependencies: rootDependencies },
    [`node_modules/${options.tarball.packageName}`]: {
      ...options.tarball.manifest,
      version: options.tarball.version,
      resolved: `file:${options.tarball.file}`,
      integrity: options.tarball.integrity,
    },
  };
  const queue: string[] = [`node_modules/${options.tarball.packageName}`];
  for (const name of options.dependencies) queue.push(`node_modules/${name}`);
  const seen = new Set<string>();
  while (queue.length > 0) {
    const location = queue.shift() as string;
    if (seen.has(location)) continue;
    seen.add(location);
    const entry = packages[location] ?? copyOf(repo[location], location);
    packages[location] = entry;
    const required = {
      ...entry.dependencies,
      ...entry.optionalDependencies,
      ...Object.fromEntries(
        Object.entries(entry.peerDependencies ?? {}).filter(
          ([name]) => entry.peerDependenciesMeta?.[name]?.optional !== true,
        ),
      ),
    };
    for (const name of Object.keys(required)) {
      const found = resolveFrom(repo, location, name);
      if (found !== undefined) queue.push(found);
      else if (entry.optionalDependencies?.[name] === undefined) {
        throw new Error(`${location} needs ${name}, which this repository's lockfile does not hold`);
      }
    }
  }

  return {
    packageJson: { name: options.name, private: true, type: 'module', dependencies: rootDependencies },
    lockfile: { name: options.name, lockfileVersion: 3, requires: true, packages },
  };
}

function copyOf(entry: LockEntry | undefined, location: string): LockEntry {
  if (entry === undefined) throw new Error(`${location} is not in this repository's lockfile`);
  const copy = { ...entry };
  for (const flag of REPOSITORY_FLAGS) delete copy[flag];
  return copy;
}

/** Node's lookup: `<location>/node_modules/<name>`, then each enclosing node_modules up to the root. */
function resolveFrom(
  packages: Record<string, LockEntry>,
  location: string,
  name: string,
): string | undefined {
  let base = location;
  for (;;) {
    const candidate = `${base === '' ? '' : `${base}/`}node_modules/${name}`;
    if (packages[candidate] !== undefined) return candidate;
    if (base === '') return undefined;
    base = base.slice(0, base.lastIndexOf('node_modules/')).replace(/\/$/, '');
  }
}
