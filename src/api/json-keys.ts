/**
 * Duplicate names in a JSON object. JSON.parse keeps the last of them, so
 * `{"action":"scale-in","instances":1,"action":"set"}` set the group to 1: RFC 8259 leaves such a
 * body's meaning to the reader, and the config refuses a duplicate YAML key the same way.
 */

interface ObjectFrame {
  kind: 'object';
  keys: Set<string>;
  /** The name whose value is being read, for the path. */
  current: string | undefined;
  /** A string here is a name: just after `{` or `,`. */
  expectName: boolean;
}

interface ArrayFrame {
  kind: 'array';
  index: number;
}

/**
 * duplicateName returns the dotted path (`instances`, `urls.2.x`) of the first name given twice in
 * one object of `text`, which must already be valid JSON, or undefined when there is none.
 */
export function duplicateName(text: string): string | undefined {
  const stack: (ObjectFrame | ArrayFrame)[] = [];
  const path = (name: string) =>
    [
      ...stack.slice(0, -1).map((frame) => (frame.kind === 'array' ? String(frame.index) : frame.current)),
      name,
    ].join('.');
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    const top = stack.at(-1);
    if (c === '"') {
      const end = stringEnd(text, i);
      if (top?.kind === 'object' && top.expectName) {
        const name = JSON.parse(text.slice(i, end + 1)) as string;
        if (top.keys.has(name)) return path(name);
        top.keys.add(name);
        top.current = name;
        top.expectName = false;
      }
      i = end;
    } else if (c === '{')
      stack.push({ kind: 'object', keys: new Set(), current: undefined, expectName: true });
    else if (c === '[') stack.push({ kind: 'array', index: 0 });
    else if (c === '}' || c === ']') stack.pop();
    else if (c === ',') {
      if (top?.kind === 'object') top.expectName = true;
      else if (top?.kind === 'array') top.index++;
    }
  }
  return undefined;
}

/** stringEnd is the index of the quote that closes the JSON string opening at `start`. */
function stringEnd(text: string, start: number): number {
  for (let i = start + 1; i < text.length; i++) {
    if (text[i] === '\\') i++;
    else if (text[i] === '"') return i;
  }
  return text.length;
}
