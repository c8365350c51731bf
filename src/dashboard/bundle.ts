import { mkdir, writeFile } from 'node:fs/promises';
import { basename, join } from 'node:path';

/** CLIENT_DIR is where the browser source lives (src/dashboard/client). */
export const CLIENT_DIR = join(import.meta.dirname, 'client');

/** DashboardFiles maps an asset name (`app.js`, `app.css`, `replay.js`, `replay.css`) to its text. */
export type DashboardFiles = Record<string, string>;

/**
 * bundleDashboard builds the browser bundles with esbuild (a build-time dependency): Preact + uPlot
 * + our code, minified, no external URLs, so the dashboard works offline. With `outdir` the files
 * are also written there (what `npm run build` does into dist/dashboard/public).
 */
export async function bundleDashboard(
  options: { outdir?: string; minify?: boolean; clientDir?: string } = {},
): Promise<DashboardFiles> {
  const esbuild = await import('esbuild');
  const clientDir = options.clientDir ?? CLIENT_DIR;
  const result = await esbuild.build({
    entryPoints: { app: join(clientDir, 'app.tsx'), replay: join(clientDir, 'replay.tsx') },
    bundle: true,
    write: false,
    outdir: options.outdir ?? '/dashboard-out',
    format: 'iife',
    platform: 'browser',
    target: ['es2020'],
    jsx: 'automatic',
    jsxImportSource: 'preact',
    minify: options.minify ?? true,
    legalComments: 'none',
    logLevel: 'silent',
    define: { 'process.env.NODE_ENV': '"production"' },
  });
  const files: DashboardFiles = {};
  for (const file of result.outputFiles) files[basename(file.path)] = file.text;
  if (options.outdir !== undefined) {
    await mkdir(options.outdir, { recursive: true });
    await Promise.all(
      Object.entries(files).map(([name, text]) => writeFile(join(options.outdir!, name), text)),
    );
  }
  return files;
}
