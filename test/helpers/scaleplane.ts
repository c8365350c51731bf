import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { Scaleplane } from '../../src/app.js';
import { parseConfig } from '../../src/config/index.js';
import type { JournalEntry } from '../../src/controller/index.js';
import { createLogger } from '../../src/log/index.js';

/** DEMO_DIR is the bundled demo app, used as the service under test. */
export const DEMO_DIR = resolve(import.meta.dirname, '../../examples/demo');

/** INTEGRATION_TOKEN is the admin API token of every startInProcess Scaleplane. */
export const INTEGRATION_TOKEN = 'integration-token';

/** startInProcess runs a whole Scaleplane in this process on free ports, from YAML text. */
export async function startInProcess(yaml: string, baseDir = DEMO_DIR): Promise<Scaleplane> {
  const config = parseConfig(yaml, { baseDir });
  return Scaleplane.start({
    config,
    logger: createLogger({ level: process.env.TEST_LOG_LEVEL === 'debug' ? 'debug' : 'warn', pretty: false }),
    env: { SCALEPLANE_API_KEY: INTEGRATION_TOKEN },
  });
}

/** nextEntry resolves with the first journal entry (from now on) that matches. */
export function nextEntry(
  app: Scaleplane,
  match: (e: JournalEntry) => boolean,
  timeoutMs: number,
): Promise<JournalEntry> {
  return new Promise((resolvePromise, reject) => {
    // What came instead, for the failure's message: a timeout alone did not say whether the group
    // never moved or moved some other way.
    const others: string[] = [];
    const timer = setTimeout(() => {
      app.controller.journal.off('entry', listener);
      const seen = others.length === 0 ? 'none' : others.slice(-5).join(' | ');
      reject(new Error(`no matching journal entry within ${timeoutMs} ms; other entries (last 5): ${seen}`));
    }, timeoutMs);
    const listener = (entry: JournalEntry) => {
      if (!match(entry)) {
        others.push(`${entry.group} ${entry.source} ${entry.before}→${entry.after}: ${entry.message}`);
        return;
      }
      clearTimeout(timer);
      app.controller.journal.off('entry', listener);
      resolvePromise(entry);
    };
    app.controller.journal.on('entry', listener);
  });
}

/** readyCount resolves once a group has exactly `n` instances, all ready (driven by provider events). */
export function settled(app: Scaleplane, group: string, n: number, timeoutMs: number): Promise<void> {
  const provider = app.providers.get(group)!;
  const check = () => {
    const instances = provider.instances();
    return instances.length === n && instances.every((i) => i.state === 'ready');
  };
  if (check()) return Promise.resolve();
  return new Promise((resolvePromise, reject) => {
    const timer = setTimeout(() => {
      provider.off('change', listener);
      reject(new Error(`group ${group} did not settle at ${n} ready within ${timeoutMs} ms`));
    }, timeoutMs);
    const listener = () => {
      if (!check()) return;
      clearTimeout(timer);
      provider.off('change', listener);
      resolvePromise();
    };
    provider.on('change', listener);
  });
}

/** writeTempConfig writes YAML to a fresh temp folder and returns its path. */
export async function writeTempConfig(yaml: string, name = 'scaleplane.yaml'): Promise<string> {
  const dir = await mkdtemp(join(tmpdir(), 'scaleplane-test-'));
  const path = join(dir, name);
  await writeFile(path, yaml);
  return path;
}
