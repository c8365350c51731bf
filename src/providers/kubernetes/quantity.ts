/**
 * quantityCpu parses a Kubernetes CPU quantity (`500m`, `0.5`, `2`) into cores; undefined when it
 * is absent or malformed.
 */
export function quantityCpu(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const text = String(value).trim();
  const match = /^(\d+(?:\.\d+)?)(m?)$/.exec(text);
  if (!match) return undefined;
  return match[2] === 'm' ? Number(match[1]) / 1000 : Number(match[1]);
}

const MEMORY_UNITS: Record<string, number> = {
  '': 1,
  k: 1e3,
  M: 1e6,
  G: 1e9,
  T: 1e12,
  Ki: 1024,
  Mi: 1024 ** 2,
  Gi: 1024 ** 3,
  Ti: 1024 ** 4,
};

/** quantityMemory parses a Kubernetes memory quantity (`256Mi`, `1G`, `1048576`) into bytes. */
export function quantityMemory(value: string | number | undefined): number | undefined {
  if (value === undefined) return undefined;
  const match = /^(\d+(?:\.\d+)?)(k|M|G|T|Ki|Mi|Gi|Ti)?$/.exec(String(value).trim());
  if (!match) return undefined;
  return Math.round(Number(match[1]) * MEMORY_UNITS[match[2] ?? '']!);
}

/** formatCpu renders cores as a quantity: whole cores as `2`, anything else in millicores (`500m`). */
export function formatCpu(cores: number): string {
  return Number.isInteger(cores) ? String(cores) : `${Math.round(cores * 1000)}m`;
}

/** formatMemory renders bytes as `NMi` when a whole number of MiB, else plain bytes. */
export function formatMemory(bytes: number): string {
  return bytes % 1024 ** 2 === 0 ? `${bytes / 1024 ** 2}Mi` : String(bytes);
}
