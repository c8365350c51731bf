/**
 * checkFileContents checks the shape of a parsed state file and returns the first problem, naming
 * its field (`desired.web`, `instances.web.web-2.pid`), or undefined when the file can be used.
 * Only what the controller reads is checked. Before, JSON of another shape was taken as it came:
 * `null` failed start with "Cannot read properties of null (reading 'desired')", naming no file; a
 * desired count that is not a number started the group at NaN, a scale the provider refuses (the
 * group stayed at 0 instances); a journal that is not a list, or an instance record that is not an
 * object, crashed start with a TypeError. Pure.
 */
export function checkFileContents(parsed: unknown): string | undefined {
  if (!isObject(parsed)) return `the file holds ${describe(parsed)}, not an object`;
  const { desired, journal, instances, sizes, alerts } = parsed;
  if (desired !== undefined) {
    if (!isObject(desired)) return `desired is ${describe(desired)}, not an object`;
    for (const [group, n] of Object.entries(desired))
      if (!Number.isSafeInteger(n) || (n as number) < 0)
        return `desired.${group} is ${describe(n)}, not a whole number >= 0`;
  }
  if (journal !== undefined) {
    if (!Array.isArray(journal)) return `journal is ${describe(journal)}, not a list`;
    for (const [i, entry] of journal.entries()) {
      if (!isObject(entry)) return `journal[${i}] is ${describe(entry)}, not an object`;
      if (!Number.isSafeInteger(entry.seq))
        return `journal[${i}].seq is ${describe(entry.seq)}, not a whole number`;
      if (typeof entry.group !== 'string')
        return `journal[${i}].group is ${describe(entry.group)}, not a string`;
    }
  }
  if (instances !== undefined) {
    if (!isObject(instances)) return `instances is ${describe(instances)}, not an object`;
    for (const [group, records] of Object.entries(instances)) {
      if (!isObject(records)) return `instances.${group} is ${describe(records)}, not an object`;
      for (const [id, record] of Object.entries(records)) {
        const at = `instances.${group}.${id}`;
        if (!isObject(record)) return `${at} is ${describe(record)}, not an object`;
        if (record.id !== id) return `${at}.id is ${describe(record.id)}, not "${id}"`;
        for (const field of ['pid', 'port'] as const)
          if (!Number.isSafeInteger(record[field]) || (record[field] as number) < 0)
            return `${at}.${field} is ${describe(record[field])}, not a whole number >= 0`;
        for (const field of ['startTime', 'startedAt'] as const)
          if (typeof record[field] !== 'number' || !Number.isFinite(record[field]))
            return `${at}.${field} is ${describe(record[field])}, not a number`;
      }
    }
  }
  if (sizes !== undefined && !isObject(sizes)) return `sizes is ${describe(sizes)}, not an object`;
  if (alerts !== undefined) {
    if (!isObject(alerts)) return `alerts is ${describe(alerts)}, not an object`;
    for (const [key, alert] of Object.entries(alerts))
      if (!isObject(alert) || alert.key !== key) return `alerts.${key} is not the alert "${key}"`;
  }
  return undefined;
}

function isObject(value: unknown): value is Record<string, unknown> {
  return typeof value === 'object' && value !== null && !Array.isArray(value);
}

/** describe names a JSON value briefly for an error message. */
function describe(value: unknown): string {
  if (value === undefined) return 'missing';
  if (Array.isArray(value)) return 'a list';
  if (isObject(value)) return 'an object';
  const text = JSON.stringify(value);
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}
