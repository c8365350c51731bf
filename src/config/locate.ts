/**
 * Maps a path in the parsed YAML back to a line of the file, so errors can say where to look.
 */
import { type Document, isAlias, isMap, isScalar, isSeq, type LineCounter } from 'yaml';

/**
 * lineOf returns the 1-based line of the node at `path` (for a mapping entry, the line of its key).
 * When part of the path does not exist, as for a missing required key, it returns the line of the
 * nearest existing parent; for an empty document, line 1.
 */
export function lineOf(doc: Document, counter: LineCounter, path: readonly PropertyKey[]): number {
  let node: unknown = doc.contents;
  let line = startLine(node, counter) ?? 1;
  for (const segment of path) {
    if (isAlias(node)) node = node.resolve(doc);
    if (isMap(node)) {
      const pair = node.items.find(
        (item) => isScalar(item.key) && String(item.key.value) === String(segment),
      );
      if (pair === undefined) break;
      line = startLine(pair.key, counter) ?? line;
      node = pair.value;
    } else if (isSeq(node) && typeof segment === 'number') {
      node = node.items[segment];
      if (node === undefined) break;
      line = startLine(node, counter) ?? line;
    } else {
      break;
    }
  }
  return line;
}

function startLine(node: unknown, counter: LineCounter): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  const offset = range?.[0];
  return offset === undefined ? undefined : counter.linePos(offset).line;
}
