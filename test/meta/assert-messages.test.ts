// Every assert.ok / assert() in the tests passes a message. Without one, a failing assert makes
// Node 20 quote the failing expression from the source file (assert's getErrMessage), at the line
// and column V8 reports, which under tsx are those of the transformed code, not of the TypeScript on
// disk. Its findColumn then finds no expression and recurses re-reading 0 bytes, with an acorn parse
// of the file at each level (nodejs/node#52677, #52962): the process spins on the CPU, so not even
// the suite's timeout fires. A plain assertion failure in test/providers/aws.test.ts thus hung a CI
// run for the runner's 5 minutes with no output (reproduced: > 100 s and still spinning; with a
// message it failed in 2 s). assert.equal and the others never read the source.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync } from 'node:fs';
import { join, relative } from 'node:path';
import { describe, it } from 'node:test';
import ts from 'typescript';

/** testSources lists the TypeScript files under `dir` (tests and their helpers). */
function testSources(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((entry) => {
    const path = join(dir, entry.name);
    if (entry.isDirectory()) return testSources(path);
    return entry.name.endsWith('.ts') ? [path] : [];
  });
}

/** messagelessAsserts finds the `assert.ok(x)` and `assert(x)` calls in `text` that pass no message. */
export function messagelessAsserts(text: string, fileName = 'x.ts'): { line: number; call: string }[] {
  const source = ts.createSourceFile(fileName, text, ts.ScriptTarget.Latest, true);
  const found: { line: number; call: string }[] = [];
  const visit = (node: ts.Node): void => {
    if (ts.isCallExpression(node) && node.arguments.length === 1) {
      const callee = node.expression.getText(source);
      if (callee === 'assert' || callee === 'assert.ok') {
        const line = source.getLineAndCharacterOfPosition(node.getStart(source)).line + 1;
        found.push({ line, call: node.getText(source).replace(/\s+/g, ' ') });
      }
    }
    ts.forEachChild(node, visit);
  };
  visit(source);
  return found;
}

describe('assertions in the tests', () => {
  it('finds a message-less assert.ok or assert() and leaves the others alone', () => {
    const found = messagelessAsserts(`
assert.ok(a);
assert(b > 1);
assert.ok(c, 'c is set');
assert(d, \`d is \${d}\`);
assert.equal(e, 1);
assert.ok(
  f.every((x) => x),
);
`);
    assert.deepEqual(found, [
      { line: 2, call: 'assert.ok(a)' },
      { line: 3, call: 'assert(b > 1)' },
      { line: 7, call: 'assert.ok( f.every((x) => x), )' },
    ]);
  });

  it('every assert.ok and assert() under test/ passes a message (a failing one without hangs Node 20 under tsx)', () => {
    const offenders = testSources('test').flatMap((file) =>
      messagelessAsserts(readFileSync(file, 'utf8'), file).map(
        ({ line, call }) => `${relative('.', file)}:${line}: ${call}`,
      ),
    );
    assert.deepEqual(offenders, [], `${offenders.length} without a message:\n${offenders.join('\n')}`);
  });
});
