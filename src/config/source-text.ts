/**
 * Scalars kept as written where YAML's reading of a plain number changes what the author meant.
 *
 * Environment values as written. YAML reads a plain `3.10` as the number 3.1, `01234` as 1234 and
 * `0x1F` as 31, and the environment only holds strings: `PYTHON_VERSION: 3.10` reached the process
 * as "3.1". The text the author wrote is what a shell would have passed.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type Node, visit, type YAMLMap } from 'yaml';

/**
 * keepEnvText sets each plain number under an `env` mapping (groups.NAME.env, the short form's env)
 * back to its source text, in place, before the document becomes a plain value. Values merged in
 * with `<<` are kept as written too; booleans stay booleans (`true` is "true" either way).
 */
export function keepEnvText(doc: Document): void {
  const seen = new Set<Node>();
  const keep = (node: unknown): void => {
    const env = mappingOf(doc, node);
    if (env === undefined || seen.has(env)) return;
    seen.add(env);
    for (const item of env.items) {
      if (isMergeKey(item.key)) {
        for (const source of mergeSources(item.value)) keep(source);
        continue;
      }
      const value = item.value;
      if (isScalar(value) && typeof value.value === 'number' && typeof value.source === 'string')
        value.value = value.source;
    }
  };
  const root = mappingOf(doc, doc.contents);
  if (root === undefined) return;
  keep(entryValue(doc, root, 'env'));
  const groups = mappingOf(doc, entryValue(doc, root, 'groups'));
  for (const group of groups?.items ?? []) {
    if (isMergeKey(group.key)) continue;
    keep(entryValue(doc, mappingOf(doc, group.value), 'env'));
  }
}

/** entryValue is the value of `key` in a mapping, looking through `<<` merges as YAML does. */
function entryValue(doc: Document, map: YAMLMap | undefined, key: string, depth = 0): unknown {
  if (map === undefined || depth > 8) return undefined;
  const own = map.items.find((item) => isScalar(item.key) && item.key.value === key);
  if (own !== undefined) return own.value;
  for (const item of map.items) {
    if (!isMergeKey(item.key)) continue;
    for (const source of mergeSources(item.value)) {
      const found = entryValue(doc, mappingOf(doc, source), key, depth + 1);
      if (found !== undefined) return found;
    }
  }
  return undefined;
}

function mappingOf(doc: Document, node: unknown): YAMLMap | undefined {
  const target = isAlias(node) ? node.resolve(doc) : node;
  return isMap(target) ? target : undefined;
}

function isMergeKey(key: unknown): boolean {
  return isScalar(key) && typeof key.value === 'symbol';
}

function mergeSources(value: unknown): unknown[] {
  return isSeq(value) ? value.items : [value];
}

/**
 * keepKeyText sets each mapping key YAML reads as a number back to its source text, in place: every
 * key in scaleplane.yaml is a name, and `0x10:` became a group "16", `1e3:` a group "1000", `010:`
 * a group "10". Written as they are, such keys are kept or reported under the name the author sees.
 */
export function keepKeyText(doc: Document): void {
  visit(doc, {
    Pair(_key, pair) {
      const key = pair.key;
      if (isScalar(key) && typeof key.value === 'number' && typeof key.source === 'string')
        key.value = key.source;
    },
  });
}
