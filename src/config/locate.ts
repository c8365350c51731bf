/**
 * Maps a path in the parsed YAML back to a line of the file, so errors can say where to look.
 */
import {
  type Document,
  isAlias,
  isCollection,
  isMap,
  isPair,
  isScalar,
  isSeq,
  type LineCounter,
  type Node,
  visit,
} from 'yaml';

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
        (item) => isScalar(item.key) && keyText(item.key.value) === String(segment),
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

/** keyText is a mapping key as the plain value names it: a null key (`~:` or `:`) becomes "". */
function keyText(value: unknown): string {
  return value === null || value === undefined ? '' : String(value);
}

function startLine(node: unknown, counter: LineCounter): number | undefined {
  if (node === null || typeof node !== 'object' || !('range' in node)) return undefined;
  const range = (node as { range?: readonly number[] | null }).range;
  const offset = range?.[0];
  return offset === undefined ? undefined : counter.linePos(offset).line;
}

/**
 * badMerges lists each merge key (`<<`) whose value is not a mapping, an alias of one, or a list
 * of those, with its path and line: the yaml library throws on the first while building the value
 * ("Merge sources must be maps or map aliases") without saying where.
 */
export function badMerges(
  doc: Document,
  counter: LineCounter,
): { path: string; line: number | undefined; message: string }[] {
  const mergeable = (node: unknown): boolean => {
    const target = isAlias(node) ? node.resolve(doc) : node;
    return isMap(target);
  };
  const found: { path: string; line: number | undefined; message: string }[] = [];
  visit(doc, {
    Pair(_key, pair, ancestors) {
      if (!isScalar(pair.key) || pair.key.source !== '<<' || typeof pair.key.value !== 'symbol') return;
      const value = pair.value;
      if (mergeable(value) || (isSeq(value) && value.items.every(mergeable))) return;
      const chain = [...ancestors, pair];
      const keys = chain.flatMap((node, at) => {
        if (isSeq(node)) return [String(node.items.indexOf(chain[at + 1] as never))];
        if (!isPair(node)) return [];
        if (!isScalar(node.key)) return ['?'];
        return [typeof node.key.value === 'symbol' ? '<<' : String(node.key.value)];
      });
      const target = isAlias(value) ? value.resolve(doc) : value;
      const kind = isSeq(target)
        ? 'a list with something else in it'
        : isScalar(target)
          ? JSON.stringify(target.value)
          : 'nothing';
      found.push({
        path: keys.join('.'),
        line: startLine(pair.key as Node, counter),
        message: `\`<<\` merges a mapping, an alias of one, or a list of them, not ${kind}`,
      });
    },
  });
  return found;
}

/**
 * syntaxIssues are the yaml library's syntax errors, each at its line and column. Two are found
 * only where the reading stopped, which is not where the mistake is: a quoted string never closed
 * (found at the end of the file, a line past the last) is placed at its opening quote, and an
 * unclosed `[` or `{` (found on the next line) names the line and column it opens at.
 */
export function syntaxIssues(
  doc: Document,
  counter: LineCounter,
): { path: string; line: number; column: number; message: string }[] {
  return doc.errors.map((error) => {
    const at = error.pos[0];
    const message = `YAML syntax error: ${error.message}`;
    if (error.code === 'MISSING_CHAR' && /quote/.test(error.message)) {
      const quote = innermostEndingAt(doc, at, (node) => isScalar(node) && /^QUOTE_/.test(node.type ?? ''));
      if (quote !== undefined)
        return {
          path: '',
          ...position(counter, quote),
          message: `${message}: the string that starts here is never closed`,
        };
    }
    if (error.code === 'BAD_INDENT' && /^Flow (map|sequence)/.test(error.message)) {
      const map = error.message.startsWith('Flow map');
      const bracket = innermostEndingAt(
        doc,
        at,
        (node) => isCollection(node) && node.flow === true && (map ? isMap(node) : isSeq(node)),
      );
      if (bracket !== undefined) {
        const { line, column } = position(counter, bracket);
        const opens = `the ${map ? '{' : '['} at line ${line}, column ${column}`;
        return { path: '', ...position(counter, at), message: `${message} (${opens})` };
      }
    }
    return { path: '', ...position(counter, at), message };
  });
}

function position(counter: LineCounter, offset: number): { line: number; column: number } {
  const { line, col } = counter.linePos(offset);
  return { line, column: col };
}

/** innermostEndingAt is the start of the last-opened node that `test` accepts and that ends at `offset`. */
function innermostEndingAt(doc: Document, offset: number, test: (node: Node) => boolean): number | undefined {
  let found: number | undefined;
  const consider = (node: Node) => {
    const range = node.range;
    if (
      range &&
      range[1] === offset &&
      range[0] < offset &&
      test(node) &&
      (found === undefined || range[0] > found)
    )
      found = range[0];
  };
  visit(doc, {
    Scalar: (_key, node) => consider(node),
    Map: (_key, node) => consider(node),
    Seq: (_key, node) => consider(node),
  });
  return found;
}
