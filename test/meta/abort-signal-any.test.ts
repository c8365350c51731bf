// No AbortSignal.timeout in src/ reaches AbortSignal.any. On Node 20 the timeout's timer holds its
// signal weakly and AbortSignal.any holds its sources weakly, so such a timeout can be
// garbage-collected before it fires (nodejs/node#57736): the MCP server's call to a control API
// that never answered then waited for good. src/deadline.ts is the bound to use instead.
//
// A timeout passed straight to fetch (the CLI's client, alert sinks, Cloudflare), to
// @kubernetes/client-node's request (node-fetch), or to code that listens on it (Queue.publish,
// the RabbitMQ backend) or reads it after each await (the NATS backend) is held strongly until it
// fires, so it is not flagged: fetch keeps a listener on its signal through the body read too
// (checked on Node 20.20 with gc() every 5 ms: a stalled head and a stalled body both rejected
// with TimeoutError after ~250 ms of a 200 ms bound; through AbortSignal.any, neither in 3 s).
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

/** sources lists the TypeScript files under `dir`. */
function sources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return sources(path);
    return /\.tsx?$/.test(entry.name) ? [path] : [];
  });
}

/** isCallOf tells a call of `AbortSignal.<method>(…)`. */
function isCallOf(node: ts.Node, method: string, source: ts.SourceFile): node is ts.CallExpression {
  return ts.isCallExpression(node) && node.expression.getText(source) === `AbortSignal.${method}`;
}

/**
 * timeoutsInAny finds the `AbortSignal.any(…)` calls in `text` whose arguments hold an
 * `AbortSignal.timeout(…)`: written there, or a variable of the file set to one.
 */
export function timeoutsInAny(text: string, fileName = 'x.ts'): { line: number; call: string }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const timeoutNames = new Set<string>();
  const anyCalls: ts.CallExpression[] = [];
  const collect = (node: ts.Node): void => {
    if (
      ts.isVariableDeclaration(node) &&
      ts.isIdentifier(node.name) &&
      node.initializer !== undefined &&
      isCallOf(node.initializer, 'timeout', source)
    )
      timeoutNames.add(node.name.text);
    if (isCallOf(node, 'any', source)) anyCalls.push(node);
    ts.forEachChild(node, collect);
  };
  collect(source);
  const holdsTimeout = (node: ts.Node): boolean =>
    isCallOf(node, 'timeout', source) ||
    (ts.isIdentifier(node) && timeoutNames.has(node.text)) ||
    (ts.forEachChild(node, (child) => holdsTimeout(child) || undefined) ?? false);
  return anyCalls
    .filter((call) => call.arguments.some(holdsTimeout))
    .map((call) => ({
      line: source.getLineAndCharacterOfPosition(call.getStart(source)).line + 1,
      call: call.getText(source).replace(/\s+/g, ' '),
    }));
}

describe('AbortSignal.timeout inside AbortSignal.any', () => {
  it('finds a timeout written in AbortSignal.any or held in a variable passed to it, and leaves the others alone', () => {
    const found = timeoutsInAny(`
const a = AbortSignal.any([AbortSignal.timeout(50)]);
const timeout = AbortSignal.timeout(ms);
fetch(url, { signal: signal === undefined ? timeout : AbortSignal.any([timeout, signal]) });
fetch(url, { signal: AbortSignal.timeout(ms) });
const limit = deadline(ms, signal);
const b = AbortSignal.any([signal, limit.signal]);
const c = AbortSignal.any([
  slot.signal,
  cond ? AbortSignal.timeout(1) : other,
]);
`);
    assert.deepEqual(found, [
      { line: 2, call: 'AbortSignal.any([AbortSignal.timeout(50)])' },
      { line: 4, call: 'AbortSignal.any([timeout, signal])' },
      { line: 8, call: 'AbortSignal.any([ slot.signal, cond ? AbortSignal.timeout(1) : other, ])' },
    ]);
  });

  it('no AbortSignal.any under src/ is given an AbortSignal.timeout (Node 20 may collect it unfired)', () => {
    const offenders = sources('src').flatMap((file) =>
      timeoutsInAny(readFileSync(file, 'utf8'), file).map(
        ({ line, call }) => `${relative('.', file)}:${line}: ${call}`,
      ),
    );
    assert.deepEqual(
      offenders,
      [],
      `${offenders.length} AbortSignal.timeout in AbortSignal.any (use deadline() of src/deadline.ts):\n${offenders.join('\n')}`,
    );
  });
});
