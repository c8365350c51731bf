import assert from 'node:assert/strict';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { runCli } from '../helpers/cli-process.js';

const T0 = 1_714_521_600; // 2024-05-01T00:00:00Z

describe('scaleplane simulate: CSV traces, --absolute and the choice of source', () => {
  let dir: string;
  let constant: string;
  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-sources-'));
    constant = join(dir, 'constant.csv');
    // Two hours of 250 req/s, one ISO-8601 sample a minute (121 samples: [0, 7200] inclusive).
    const rows = Array.from({ length: 121 }, (_, m) => `${new Date((T0 + m * 60) * 1000).toISOString()},250`);
    await writeFile(constant, `time,value\r\n${rows.join('\r\n')}\r\n`);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('--absolute replays 250 req/s as is: with --capacity 100 the oracle runs 3 instances (6 instance-hours)', async () => {
    const run = await runCli([
      'simulate',
      '--trace',
      constant,
      '--absolute',
      '--capacity',
      '100',
      '--compare',
      '--json',
    ]);
    assert.equal(run.code, 0, run.stderr);
    const rows = run.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as Record<string, number | string>);
    const oracle = rows.find((r) => r.policy === 'oracle')!;
    // 7201 seconds × 3 instances; 250 req/s × 7201 s requests.
    assert.equal(oracle.instance_hours, 6);
    assert.equal(oracle.requests, 250 * 7201);
    // Without --absolute the peak is scaled to 20 × 100 req/s: ceil(2000 / 90) = 23 instances.
    const scaled = await runCli(['simulate', '--trace', constant, '--compare', '--json']);
    assert.equal(scaled.code, 0, scaled.stderr);
    const scaledOracle = scaled.stdout
      .trim()
      .split('\n')
      .map((l) => JSON.parse(l) as { policy: string; instance_hours: number })
      .find((r) => r.policy === 'oracle')!;
    assert.equal(scaledOracle.instance_hours, 46);
  });

  it('the table says where the trace starts and what --absolute means for it', async () => {
    const run = await runCli([
      'simulate',
      '--trace',
      constant,
      '--absolute',
      '--capacity',
      '100',
      '--max',
      '2',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /seconds \[0, 7201\) from 2024-05-01T00:00:00\.000Z/);
    assert.match(
      run.stdout,
      /as is \(--absolute\), peak 250\.0 req\/s = 3 instances of 100 req\/s at 90 % \(more than --max 2\)/,
    );
  });

  it('--from/--to take ISO-8601 times of a timed trace; outside it, or on a workload.txt, a usage error', async () => {
    const run = await runCli([
      'simulate',
      '--trace',
      constant,
      '--absolute',
      '--capacity',
      '100',
      '--from',
      '2024-05-01T00:30:00Z',
      '--to',
      '2024-05-01T01:30:00Z',
      '--policy',
      'hpa',
    ]);
    assert.equal(run.code, 0, run.stderr);
    assert.match(run.stdout, /seconds \[1800, 5400\) from 2024-05-01T00:30:00\.000Z/);
    const outside = await runCli(['simulate', '--trace', constant, '--from', '2024-05-02T00:00:00Z']);
    assert.equal(outside.code, 2);
    assert.match(
      outside.stderr,
      /--from 2024-05-02T00:00:00Z: outside the trace, which runs from 2024-05-01T00:00:00\.000Z to 2024-05-01T02:00:01\.000Z/,
    );
    const workload = join(dir, 'workload.txt');
    await writeFile(workload, '1 2 3 4\n');
    const untimed = await runCli(['simulate', '--trace', workload, '--to', '2024-05-01T00:00:00Z']);
    assert.equal(untimed.code, 2);
    assert.match(untimed.stderr, /--to 2024-05-01T00:00:00Z: this trace has no times \(workload\.txt\)/);
    const reversed = await runCli(['simulate', '--trace', constant, '--from', '600', '--to', '60']);
    assert.equal(reversed.code, 2);
    assert.match(reversed.stderr, /--from 600 is not before --to 60/);
  });

  it('a bad line fails the run with its line number', async () => {
    const bad = join(dir, 'bad.csv');
    await writeFile(bad, `time,value\n${T0},1\n${T0 + 60},abc\n`);
    const run = await runCli(['simulate', '--trace', bad]);
    assert.equal(run.code, 1);
    assert.equal(
      run.stderr.trim(),
      `scaleplane: ${bad}: line 3: value "abc" is not a number (requests per second)`,
    );
  });

  it('a workload.txt value that is not a count fails the run with its line and place; an empty one too', async () => {
    const bad = join(dir, 'workload.txt');
    await writeFile(bad, '1 2 3\n4 5\n6 x 7\n');
    const run = await runCli(['simulate', '--trace', bad]);
    assert.equal(run.code, 1, `exit code (stderr: ${run.stderr})`);
    assert.equal(
      run.stderr.trim(),
      `scaleplane: ${bad}: line 3, value 2: "x" is not a request count (a number ≥ 0)`,
    );
    await writeFile(bad, '1 2\n-3\n');
    const negative = await runCli(['simulate', '--trace', bad]);
    assert.equal(
      negative.stderr.trim(),
      `scaleplane: ${bad}: line 2, value 1: "-3" is not a request count (a number ≥ 0)`,
    );
    await writeFile(bad, '\n');
    const empty = await runCli(['simulate', '--trace', bad]);
    assert.equal(empty.code, 1, `exit code of an empty trace (stdout: ${empty.stdout})`);
    assert.match(empty.stderr, /no request counts/);
  });

  it('a window without requests is a usage error unless --absolute (there is no peak to scale)', async () => {
    const quiet = join(dir, 'quiet.txt');
    await writeFile(quiet, `${'0 '.repeat(600)}\n${'5 '.repeat(600)}\n`);
    const run = await runCli(['simulate', '--trace', quiet, '--to', '600']);
    assert.equal(run.code, 2, `exit code (stdout: ${run.stdout})`);
    assert.match(run.stderr, /seconds \[0, 600\) hold no requests \(every count is 0\)/);
    const whole = await runCli(['simulate', '--trace', quiet]);
    assert.equal(whole.code, 0, `the whole trace replays (stderr: ${whole.stderr})`);
    const absolute = await runCli(['simulate', '--trace', quiet, '--to', '600', '--absolute']);
    assert.equal(absolute.code, 0, `--absolute replays the quiet window (stderr: ${absolute.stderr})`);
  });

  it('usage errors (exit 2): two sources, none, flags of the other source, --absolute with --peak-instances', async () => {
    const cases: [string[], RegExp][] = [
      [
        ['--trace', constant, '--prometheus', 'http://127.0.0.1:9'],
        /--trace and --prometheus .* give one of them/,
      ],
      [[], /a trace is needed: --trace FILE, or --prometheus URL --query PROMQL/],
      [['--trace', constant, '--query', 'up'], /--query goes with --prometheus, not --trace/],
      [['--prometheus', 'http://127.0.0.1:9'], /--prometheus needs --query/],
      [
        ['--prometheus', 'http://127.0.0.1:9', '--query', 'up', '--since', 'last week'],
        /--since last week: expected now, a duration/,
      ],
      [
        ['--prometheus', 'http://127.0.0.1:9', '--query', 'up', '--since', '1h', '--until', '2h'],
        /--since 1h is not before --until 2h/,
      ],
      [
        ['--trace', constant, '--absolute', '--peak-instances', '5'],
        /--peak-instances scales the trace, --absolute replays it as is/,
      ],
      // Each of these crashed deep inside with "scaleplane: Invalid array length" (exit 1) or was
      // taken as is (a fractional --aggregate, --min 1.5 printed as "instances 1.5..40").
      [
        ['--trace', constant, '--max', '2.5'],
        /option '--max <n>' argument '2\.5' is invalid\. --max must be a whole number ≥ 1/,
      ],
      [['--trace', constant, '--min', '1.5'], /--min must be a whole number ≥ 0/],
      [['--trace', constant, '--capacity', '0'], /--capacity must be a number > 0/],
      [['--trace', constant, '--peak-instances', '0'], /--peak-instances must be a number > 0/],
      // The demand is scaled to peak-instances × capacity: past these it overflowed, and every
      // figure printed 0.00 (0 % violations at 0.00× the oracle), exit 0.
      [['--trace', constant, '--capacity', '1e307'], /--capacity must be at most 1000000000, got 1e307/],
      [
        ['--trace', constant, '--peak-instances', '1e307'],
        /--peak-instances must be at most 10000, got 1e307/,
      ],
      [['--trace', constant, '--aggregate', '1.5'], /--aggregate must be a whole number ≥ 1/],
      [['--trace', constant, '--interval', '0'], /--interval must be a whole number ≥ 1/],
      [['--trace', constant, '--startup', '-1'], /--startup must be a number ≥ 0/],
      // A query or fragment was dropped with the path prefix (/prom) when api/v1/query_range was
      // joined on, so the range query went to another path; the URL's password is never echoed.
      [
        ['--prometheus', 'http://127.0.0.1:9/prom?tenant=a', '--query', 'up'],
        /^scaleplane: --prometheus http:\/\/127\.0\.0\.1:9\/prom\?tenant=\*\*\*: has a query \(\?tenant=\*\*\*\), which would be dropped when api\/v1\/query_range is joined on/,
      ],
      // Nor its query's values, which can be a token: before, `?api_key=key-s3cret` was printed twice.
      [
        ['--prometheus', 'http://127.0.0.1:9/?api_key=key-s3cret', '--query', 'up'],
        /^scaleplane: --prometheus http:\/\/127\.0\.0\.1:9\/\?api_key=\*\*\*: has a query \(\?api_key=\*\*\*\)/,
      ],
      [['--prometheus', 'http://127.0.0.1:9/#x', '--query', 'up'], /has a fragment \(#x\)/],
      // Files: a missing trace was a bare "ENOENT: … open '…'" (exit 1); a --timeline that cannot
      // be written crashed with an unhandled 'error' event, and --plot/--html failed only after
      // the whole replay.
      [
        ['--trace', '/nonexistent/traffic.csv'],
        /^scaleplane: --trace \/nonexistent\/traffic\.csv: cannot read it \(ENOENT\)/,
      ],
      [['--trace', '/tmp'], /^scaleplane: --trace \/tmp: not a file/],
      [
        ['--trace', constant, '--timeline', '/nonexistent/t.csv'],
        /^scaleplane: --timeline \/nonexistent\/t\.csv: cannot write it \(ENOENT\)/,
      ],
      [
        ['--trace', constant, '--plot', '/nonexistent/p.svg'],
        /^scaleplane: --plot \/nonexistent\/p\.svg: cannot write it/,
      ],
      [
        ['--trace', constant, '--html', '/nonexistent/r.html'],
        /^scaleplane: --html \/nonexistent\/r\.html: cannot write it/,
      ],
      [
        ['--prometheus', 'ftp://u:s3cret@127.0.0.1/', '--query', 'up'],
        /^scaleplane: --prometheus ftp:\/\/u:\*\*\*@127\.0\.0\.1\/: expected http:\/\/ or https:\/\/, got ftp:\/\//,
      ],
    ];
    const runs = await Promise.all(cases.map(([args]) => runCli(['simulate', ...args])));
    runs.forEach((run, i) => {
      assert.equal(run.code, 2, `${cases[i]![0].join(' ')}: ${run.stderr}`);
      assert.match(run.stderr, cases[i]![1]);
      assert.doesNotMatch(run.stderr, /s3cret/);
    });
  });
});
