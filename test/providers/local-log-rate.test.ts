// An instance's output lines reach Scaleplane's log only up to `log_lines_per_second` (a token
// bucket with bursts of 10 s worth); the rest are counted in one line per interval and kept, with
// every other byte, in the instance's own log file. Before, an instance printing in a loop had
// every line (~350,000 a second) logged by the controller.
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { test } from 'node:test';
import { LineRate } from '../../src/providers/local/line-rate.js';
import { until } from '../helpers/until.js';
import { makeProvider, recordingLogger, tempDir } from './local-helpers.js';

const TOTAL = 200_000;
const RATE = 50;
const SUMMARY =
  /^web-1: ([\d,]+) lines not forwarded in the last \d+ s \(rate limit 50\/s\); they are in (.+)$/;

test('a chatty instance: forwarded lines bounded by the rate, the rest summed up, the file complete', async (t) => {
  const dir = await tempDir(t, 'lograte');
  const logger = recordingLogger();
  const provider = makeProvider(
    t,
    { env: { PRINT_LINES: String(TOTAL) }, logLinesPerSecond: RATE },
    { logger, logDir: dir, logSummaryInterval: 200 },
  );
  const started = Date.now();
  await provider.scaleTo(1);
  const lines = Array.from({ length: TOTAL }, (_, i) => `line ${i + 1}`).join('\n');
  const forwarded = () => logger.lines.filter((l) => l.fields.stream !== undefined);
  const summaries = () => logger.lines.filter((l) => SUMMARY.test(l.msg));
  const leftOut = () => summaries().reduce((sum, l) => sum + (l.fields.linesLeftOut as number), 0);
  // Every line is accounted for: forwarded, or counted in a summary (the last one comes at the
  // end of its interval).
  await until(() => forwarded().length + leftOut() === TOTAL + 1, 60_000, 'every line forwarded or counted');
  const seconds = (Date.now() - started) / 1000;
  assert.ok(
    forwarded().length <= RATE * 10 + RATE * seconds + 1,
    `${forwarded().length} lines forwarded in ${seconds} s, rate ${RATE}/s with a burst of ${RATE * 10}`,
  );
  // Piped instances' files are in a folder of the provider's own under logDir.
  const [folder] = readdirSync(dir).filter((name) => name.startsWith('scaleplane-logs-'));
  assert.ok(folder !== undefined, `a scaleplane-logs-* folder in ${dir}`);
  const file = join(dir, folder, 'scaleplane-web-1.log');
  // The file gets every line: wait until it holds them all (it grows as the pipe is read).
  const port = provider.instances()[0]!.address.split(':').at(-1);
  const printedBytes = Buffer.byteLength(`listening on ${port}\n${lines}\n`);
  await until(
    () => {
      try {
        return statSync(file).size >= printedBytes;
      } catch {
        return false;
      }
    },
    60_000,
    'the instance log file holding every line',
  );
  const first = summaries()[0]!;
  assert.equal(first.level, 'warn');
  const [, count, named] = SUMMARY.exec(first.msg)!;
  assert.equal(Number(count!.replaceAll(',', '')), first.fields.linesLeftOut);
  assert.equal(named, file);
  // The file is complete and in order.
  const text = readFileSync(file, 'utf8');
  assert.equal(text, `listening on ${port}\n${lines}\n`);
  t.diagnostic(
    `${forwarded().length} of ${TOTAL + 1} lines forwarded in ${seconds} s; first summary: ${first.msg}`,
  );
});

test('LineRate: a burst, then the rate; the count left out once per interval', () => {
  const rate = new LineRate({ linesPerSecond: 10, burst: 3, intervalMs: 1000 }, 0);
  assert.deepEqual(
    [0, 0, 0, 0, 0].map((now) => rate.admit(now)),
    [true, true, true, false, false],
  );
  assert.equal(rate.summary(999), undefined, 'interval still running');
  assert.equal(rate.admit(100), true, 'one line per 100 ms comes back');
  assert.equal(rate.admit(100), false);
  assert.deepEqual(rate.summary(1000), { lines: 3, sinceMs: 1000 });
  assert.equal(rate.summary(2000), undefined, 'nothing left out since');
  assert.equal(rate.admit(60_000), true);
  assert.equal(rate.admit(60_000), true);
  assert.equal(rate.admit(60_000), true, 'the bucket refills up to the burst only');
  assert.equal(rate.admit(60_000), false);
  assert.deepEqual(rate.summary(60_001, true), { lines: 1, sinceMs: 58_001 });
  assert.throws(() => new LineRate({ linesPerSecond: 0 }, 0), /linesPerSecond must be a number > 0, got 0/);
});
