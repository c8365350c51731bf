// An instance's output is logged line by line with a bounded buffer. readline kept an unterminated
// line whole: a child writing without newlines (`cat /dev/zero`) grew Scaleplane to 668 MB in 5 s,
// then an uncaught RangeError (Invalid string length) ended the controller and every group with it.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { LineSplitter, MAX_LINE_CHARS } from '../../src/providers/local/lines.js';
import { makeProvider, recordingLogger } from './local-helpers.js';

test('LineSplitter: lines across chunks, CRLF, a last unterminated line, split UTF-8', () => {
  const s = new LineSplitter();
  assert.deepEqual(s.push('a\nb'), ['a']);
  assert.deepEqual(s.push('c\r\n\nd'), ['bc', '']);
  const euro = Buffer.from('€\n');
  assert.deepEqual(s.push(euro.subarray(0, 1)), []);
  assert.deepEqual(s.push(euro.subarray(1)), ['d€']);
  assert.deepEqual(s.push('tail'), []);
  assert.deepEqual(s.end(), ['tail']);
});

test('LineSplitter: a line longer than the limit is cut once, the rest of it dropped', () => {
  const s = new LineSplitter(4);
  const cut = s.push('abcdefgh');
  assert.equal(cut.length, 1);
  assert.match(cut[0]!, /^abcd …\[line longer than 4 characters; rest dropped\]$/);
  assert.deepEqual(s.push('ijk'.repeat(1000)), []);
  assert.deepEqual(s.push('xyz\nnext\n'), ['next']);
  assert.deepEqual(s.end(), []);
});

test('an instance writing 8 MiB without a newline: logged cut to the limit, later lines intact', async (t) => {
  // Awaited on the log itself: the cut flood line (stdout) and the line after it (stderr).
  let resolve!: () => void;
  const logged = new Promise<void>((r) => {
    resolve = r;
  });
  let sawFlood = false;
  let sawAfter = false;
  const logger = recordingLogger((line) => {
    if (line.fields.stream === 'stdout') sawFlood = true;
    if (line.msg === 'after') sawAfter = true;
    if (sawFlood && sawAfter) resolve();
  });
  const provider = makeProvider(
    t,
    // A worker (no health path): ready once running.
    { command: `head -c 8388608 /dev/zero | tr '\\0' a; echo; echo after >&2; exec sleep 60` },
    { healthPath: '', logger },
  );
  await provider.scaleTo(1);
  await Promise.race([
    logged,
    new Promise((_, reject) =>
      setTimeout(() => reject(new Error('output not logged within 15 s')), 15_000).unref(),
    ),
  ]);
  const output = () => logger.lines.filter((l) => l.fields.stream !== undefined);
  const longest = Math.max(...output().map((l) => l.msg.length));
  assert.ok(longest <= MAX_LINE_CHARS + 100, `a logged line of ${longest} characters`);
  const stdout = output().filter((l) => l.fields.stream === 'stdout');
  assert.equal(stdout.length, 1, 'the flood is one (cut) line');
  assert.match(stdout[0]!.msg, /^a+ …\[line longer than 16384 characters; rest dropped\]$/);
});
