import { type Instance, type InstanceSize, sameSize } from '../providers/index.js';

/**
 * ResizeResume is the decision to finish a rolling resize that a restart or takeover cut: the
 * instances in service whose size is not the group's size in force (the persisted size of its last
 * resize, or its config's), which the provider is to replace one at a time, each only once its
 * replacement is ready.
 */
export interface ResizeResume {
  /** The size in force: what the outdated instances are replaced with. */
  readonly size: InstanceSize;
  /** Ids of the instances in service at another size, oldest first. */
  readonly outdated: readonly string[];
  /** How many instances are in service (starting or ready). */
  readonly live: number;
}

/**
 * planResizeResume says whether a group's instances, as adopted at start, need a resize finished.
 * Undefined when no size is in force (nothing to roll to) or every instance in service has it.
 * Instances draining or stopping are going away anyway and do not count. Pure.
 */
export function planResizeResume(
  instances: readonly Instance[],
  size: InstanceSize | undefined,
): ResizeResume | undefined {
  if (size === undefined) return undefined;
  const live = instances.filter((i) => i.state === 'starting' || i.state === 'ready');
  const outdated = live.filter((i) => !sameSize(i.size, size)).map((i) => i.id);
  if (outdated.length === 0) return undefined;
  return { size, outdated, live: live.length };
}

/**
 * formatSize writes a size as `scaleplane resize` takes it, for the journal and the log:
 * `cpu=0.5,memory=256Mi`. Memory is in the largest binary unit it is a whole number of, else bytes,
 * so the line can be pasted back into `scaleplane resize`. Before, memory was raw bytes
 * (`memory=268435456` after `resize web memory=256Mi`), while `status` showed the same size as
 * `memory 256Mi`.
 */
export function formatSize(size: InstanceSize): string {
  return Object.entries(size)
    .map(([k, v]) => `${k}=${k === 'memory' && typeof v === 'number' ? memoryQuantity(v) : v}`)
    .join(',');
}

const BINARY_UNITS: readonly [string, number][] = [
  ['Ti', 2 ** 40],
  ['Gi', 2 ** 30],
  ['Mi', 2 ** 20],
  ['Ki', 2 ** 10],
];

/** memoryQuantity renders bytes as `NGi`/`NMi`/`NKi` when a whole number of one, else as bytes. */
function memoryQuantity(bytes: number): string {
  const unit = BINARY_UNITS.find(([, size]) => bytes > 0 && bytes % size === 0);
  return unit ? `${bytes / unit[1]}${unit[0]}` : String(bytes);
}
