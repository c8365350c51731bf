import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readdir, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, it } from 'node:test';
import { PNG } from 'pngjs';
import { renderSvg, svgToPng } from '../../src/sim/index.js';
import { ROOT, runCli } from '../helpers/cli-process.js';

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);
// renderSvg's layout: the plot area lies inside these margins, the title above it.
const PAD = { left: 60, right: 160, top: 30, bottom: 30 };

/** Counts pixels in [x0, x1) × [y0, y1) that are not the white background. */
function inked(
  png: PNG,
  x0: number,
  x1: number,
  y0: number,
  y1: number,
  match = (r: number, g: number, b: number) => r < 250 || g < 250 || b < 250,
): number {
  let n = 0;
  for (let y = y0; y < y1; y++) {
    for (let x = x0; x < x1; x++) {
      const i = (y * png.width + x) * 4;
      if (match(png.data[i]!, png.data[i + 1]!, png.data[i + 2]!)) n++;
    }
  }
  return n;
}

describe('scaleplane simulate --plot', () => {
  let dir: string;
  let trace: string;

  before(async () => {
    dir = await mkdtemp(join(tmpdir(), 'scaleplane-plot-'));
    trace = join(dir, 'workload.txt');
    // Two hours of a ramp up and down, per second.
    const counts = Array.from({ length: 7200 }, (_, t) =>
      Math.round(10 + 40 * Math.sin((Math.PI * t) / 7200)),
    );
    await writeFile(trace, `${counts.join('\n')}\n`);
  });
  after(() => rm(dir, { recursive: true, force: true }));

  it('FILE.png writes a PNG of the same size as the SVG, with the lines drawn in the plot area', async () => {
    const png = join(dir, 'out.png');
    const svg = join(dir, 'out.svg');
    const [toPng, toSvg] = await Promise.all([
      runCli(['simulate', '--trace', trace, '--policy', 'hpa', '--plot', png]),
      runCli(['simulate', '--trace', trace, '--policy', 'hpa', '--plot', svg]),
    ]);
    assert.equal(toPng.code, 0, toPng.stderr);
    assert.equal(toSvg.code, 0, toSvg.stderr);

    const bytes = await readFile(png);
    assert.deepEqual(bytes.subarray(0, 8), PNG_SIGNATURE);
    assert.equal(bytes.toString('latin1', 12, 16), 'IHDR');
    const text = await readFile(svg, 'utf8');
    const size = /<svg [^>]*width="(\d+)" height="(\d+)"/.exec(text);
    assert.ok(size, 'the SVG states its width and height');
    assert.deepEqual([bytes.readUInt32BE(16), bytes.readUInt32BE(20)], [Number(size[1]), Number(size[2])]);

    const image = PNG.sync.read(bytes);
    const [x0, x1] = [PAD.left + 2, image.width - PAD.right - 2];
    const [y0, y1] = [PAD.top, image.height - PAD.bottom - 2];
    // Inside the axes: the demand line (#222) and hpa's ready capacity (#d62728), ~1 px thick
    // across ~980 px each, so well over 1000 inked pixels, some of them red.
    assert.ok(inked(image, x0, x1, y0, y1) > 1000, 'lines drawn in the plot area');
    const red = inked(image, x0, x1, y0, y1, (r, g, b) => r > 150 && g < 120 && b < 120);
    assert.ok(red > 200, `hpa's red line drawn in the plot area (${red} red pixels)`);
  });

  it('draws the title with a system font', {
    skip: !existsSync('/usr/share/fonts') && 'no system fonts: the PNG has no text',
  }, async () => {
    const image = PNG.sync.read(
      await svgToPng(renderSvg([{ name: 'demand', values: [1, 2] }], { title: 'Title' })),
    );
    assert.ok(inked(image, PAD.left, PAD.left + 60, 0, PAD.top - 6) > 30, 'title text has ink');
  });

  it('any other extension is a usage error (exit 2) before the replay, and writes nothing', async () => {
    const before = await readdir(dir);
    const { code, stderr } = await runCli([
      'simulate',
      '--trace',
      trace,
      '--timeline',
      join(dir, 'timeline.csv'),
      '--plot',
      join(dir, 'out.jpg'),
    ]);
    assert.equal(code, 2);
    assert.match(stderr, /--plot .*out\.jpg: unknown extension \.jpg, expected \.svg or \.png/);
    assert.deepEqual(await readdir(dir), before);
    // No extension at all, and a trace that does not exist: the plot is refused before the trace is read.
    const bare = await runCli(['simulate', '--trace', join(dir, 'missing.txt'), '--plot', join(dir, 'out')]);
    assert.equal(bare.code, 2);
    assert.match(bare.stderr, /--plot .*out: unknown extension \(none\), expected \.svg or \.png/);
    assert.deepEqual(await readdir(dir), before);
  });

  it('loads @resvg/resvg-js only when a PNG is drawn, not on import', async () => {
    const script = [
      "import { createRequire } from 'node:module';",
      "const cache = createRequire(process.cwd() + '/').cache;",
      "const loaded = () => Object.keys(cache).some((k) => k.includes('@resvg'));",
      "const sim = await import('./src/sim/index.ts');",
      'const onImport = loaded();',
      `await sim.svgToPng('<svg xmlns="http://www.w3.org/2000/svg" width="2" height="2"/>');`,
      'console.log(JSON.stringify({ onImport, afterPng: loaded() }));',
    ].join('\n');
    const child = spawnSync(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    assert.equal(child.status, 0, child.stderr);
    assert.deepEqual(JSON.parse(child.stdout), { onImport: false, afterPng: true });
  });
});
