import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { buildDemand, parseCsvTrace, runExperiment, TraceError } from '../../src/sim/index.js';

const T0 = 1_714_521_600; // 2024-05-01T00:00:00Z

/** Asserts that `fn` throws a TraceError with `code` (and `line`), and returns its message. */
function traceError(fn: () => unknown, code: TraceError['code'], line?: number): string {
  try {
    fn();
  } catch (err) {
    assert.ok(err instanceof TraceError, String(err));
    assert.equal(err.code, code, err.message);
    if (line !== undefined) assert.equal(err.line, line, err.message);
    return err.message;
  }
  assert.fail(`no ${code}`);
}

describe('CSV traces', () => {
  it('holds each value until the next point, at irregular steps; the last point is its own second', () => {
    const { perSecond, start } = parseCsvTrace(
      ['time,value', `${T0},10`, `${T0 + 3},20`, `${T0 + 4},5`, `${T0 + 10},7`].join('\n'),
    );
    assert.equal(start, T0);
    assert.deepEqual([...perSecond], [10, 10, 10, 20, 5, 5, 5, 5, 5, 5, 7]);
  });

  it('reads unix seconds, unix milliseconds and ISO-8601 (offset, Z, none = UTC, a space for T) alike', () => {
    const rows = [
      [T0, 'T00:00:00Z', '2024-05-01T02:00:00+02:00', 12.5],
      [T0 + 60, 'T00:01:00Z', '2024-05-01T00:01:00', 40],
      [T0 + 90, 'T00:01:30.000Z', '2024-05-01 00:01:30', 0],
      [T0 + 150, 'T00:02:30Z', '2024-05-01T00:02:30+0000', 3],
    ] as const;
    const seconds = parseCsvTrace(`time,value\n${rows.map((r) => `${r[0]},${r[3]}`).join('\n')}`);
    const millis = parseCsvTrace(`t,v\n${rows.map((r) => `${r[0] * 1000},${r[3]}`).join('\n')}`);
    const iso = parseCsvTrace(`time,rps\n${rows.map((r) => `2024-05-01${r[1]},${r[3]}`).join('\n')}`);
    const mixedIso = parseCsvTrace(`time,rps\n${rows.map((r) => `${r[2]},${r[3]}`).join('\n')}`);
    assert.equal(seconds.perSecond.length, 151);
    assert.deepEqual([seconds.perSecond[0], seconds.perSecond[59], seconds.perSecond[60]], [12.5, 12.5, 40]);
    assert.deepEqual([seconds.perSecond[90], seconds.perSecond[150]], [0, 3]);
    for (const other of [millis, iso, mixedIso]) {
      assert.equal(other.start, T0);
      assert.deepEqual(other.perSecond, seconds.perSecond);
    }
  });

  it('a point inside a second counts for its share of that second', () => {
    const { perSecond } = parseCsvTrace(
      `time,value\n${T0 * 1000},10\n${T0 * 1000 + 500},30\n${T0 * 1000 + 1000},0`,
    );
    assert.deepEqual([...perSecond], [20, 0]);
  });

  it('quoted fields, CRLF, a byte-order mark, blank lines and an empty value (a missing sample, held over)', () => {
    const text = `\uFEFF"Time","rate{job=""web""}"\r\n"${T0}", "4"\r\n\r\n${T0 + 60},\r\n"${T0 + 120}",8\r\n`;
    const { perSecond } = parseCsvTrace(text);
    assert.equal(perSecond.length, 121);
    assert.equal(perSecond[119], 4);
    assert.equal(perSecond[120], 8);
  });

  it('names the line of a bad value and of a time going backwards (or standing still)', () => {
    const good = ['time,value', `${T0},1`, `${T0 + 60},2`];
    let message = traceError(
      () => parseCsvTrace([...good, `${T0 + 120},12 req`].join('\n')),
      'TRACE_BAD_LINE',
      4,
    );
    assert.match(message, /^line 4: value "12 req" is not a number/);
    message = traceError(() => parseCsvTrace([...good, `${T0 + 120},-1`].join('\n')), 'TRACE_BAD_LINE', 4);
    assert.match(message, /^line 4: value -1 is not a rate ≥ 0/);
    message = traceError(() => parseCsvTrace([...good, `${T0 + 30},2`].join('\n')), 'TRACE_TIME_ORDER', 4);
    assert.match(message, new RegExp(`^line 4: time ${T0 + 30} is not after line 3's ${T0 + 60}`));
    traceError(() => parseCsvTrace([...good, `${T0 + 60},2`].join('\n')), 'TRACE_TIME_ORDER', 4);
    // Even when the sample going back has no value.
    traceError(() => parseCsvTrace([...good, `${T0},`].join('\n')), 'TRACE_TIME_ORDER', 4);
  });

  it('names the line of every other malformed input', () => {
    const cases: [string, number, RegExp][] = [
      [`${T0},1\n${T0 + 1},2`, 1, /header line/],
      ['time,value,extra\n1,2,3', 1, /2 columns/],
      [`time,value\n${T0},1,2`, 2, /expected 2 columns \(time,value\), got 3/],
      [`time,value\n${T0},1\nyesterday,2`, 3, /time "yesterday" is not unix seconds/],
      ['time,value\n2024-02-30T00:00:00Z,1', 2, /time "2024-02-30T00:00:00Z"/],
      [`time,value\n${T0},1\n${(T0 + 1) * 1000},1`, 3, /unix milliseconds, line 2's in unix seconds/],
      [`time,value\n"${T0},1`, 2, /quoted field is not closed/],
      [`time,value\n"${T0}"x,1`, 2, /unexpected "x" after a closing quote/],
    ];
    for (const [text, line, pattern] of cases) {
      assert.match(
        traceError(() => parseCsvTrace(text), 'TRACE_BAD_LINE', line),
        pattern,
        text,
      );
    }
    traceError(() => parseCsvTrace('time,value\n\n'), 'TRACE_EMPTY');
  });

  it('a gap longer than 5 min (or the usual step) is unknown traffic: an error naming both lines', () => {
    const every60 = (from: number, to: number) =>
      Array.from({ length: (to - from) / 60 }, (_, i) => `${T0 + from + i * 60},5`);
    const text = ['time,value', ...every60(0, 600), ...every60(1200, 1800)].join('\n');
    const message = traceError(() => parseCsvTrace(text), 'TRACE_GAP');
    assert.match(
      message,
      new RegExp(`^11 min without a sample between line 11 \\(${T0 + 540}\\) and line 12 \\(${T0 + 1200}\\)`),
    );
    assert.match(message, /raise --max-gap/);
    // An interval of exactly 5 minutes (4 missing samples) is held.
    const shortGap = ['time,value', ...every60(0, 600), ...every60(840, 1200)].join('\n');
    assert.equal(parseCsvTrace(shortGap).perSecond[700], 5);
    // A bound given by the user holds the value across; an hourly spreadsheet needs none.
    assert.equal(parseCsvTrace(text, { maxGap: 660 }).perSecond[1000], 5);
    const hourly = ['time,value', ...Array.from({ length: 24 }, (_, h) => `${T0 + h * 3600},${h}`)].join(
      '\n',
    );
    assert.equal(parseCsvTrace(hourly).perSecond[5 * 3600 + 1800], 5);
  });
});

describe('--absolute demand', () => {
  const constant = Float64Array.from({ length: 7200 }, () => 250);

  it('keeps the rates as they are; the default still scales the peak', () => {
    const o = { from: 0, aggregate: 60, peakInstances: 20, capacity: 100 };
    const absolute = buildDemand(constant, { ...o, absolute: true });
    assert.equal(absolute.scale, 1);
    assert.deepEqual([absolute.rate[0], absolute.rate[7199]], [250, 250]);
    assert.equal(buildDemand(constant, o).rate[0], 2000);
  });

  it('250 req/s at 100 req/s per instance: the oracle runs ceil(250 / 90) = 3 instances', () => {
    const { results } = runExperiment(constant, {
      from: 0,
      aggregate: 60,
      peakInstances: 20,
      capacity: 100,
      absolute: true,
      startup: 60,
      min: 1,
      max: 40,
      interval: 15,
      policies: [],
      withOracle: true,
    });
    const oracle = results.find((r) => r.policy === 'oracle')!;
    assert.equal(Math.min(...oracle.ready), 3);
    assert.equal(Math.max(...oracle.ready), 3);
    assert.equal(oracle.violation_pct, 0);
  });
});
