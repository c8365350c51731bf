// Every key of the config schema is in the README's YAML (the Configuration reference, or the
// section of its area: Alerts, Highly available controller), and every key with a default shows
// that default once as `key: value`. Walked from the JSON Schema, so a key added later fails here
// until it is documented. It found seven `scaling.predictive` keys (trend_window, level_window, …),
// `alerts.sinks[].sentry.send_resolved` and `balancer.cloudflare.api_base` in no README example.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { describe, it } from 'node:test';
import { configJsonSchema } from '../../src/config/index.js';

type Node = Record<string, unknown>;

const ROOT = resolve(import.meta.dirname, '../..');

/** A key of the schema: its YAML path, its name and its default (when it has one). */
interface Key {
  path: string;
  name: string;
  default?: unknown;
}

function children(node: Node): Node[] {
  const out: Node[] = [node];
  for (const k of ['anyOf', 'oneOf', 'allOf'] as const)
    if (Array.isArray(node[k])) for (const c of node[k] as Node[]) out.push(...children(c));
  return out;
}

/** keys walks the schema (both forms) and lists every property, inner ones included. */
function keys(node: Node, path: string[] = [], out: Key[] = []): Key[] {
  for (const n of children(node)) {
    if (n.properties !== undefined)
      for (const [name, v] of Object.entries(n.properties as Record<string, Node>)) {
        const at = [...path, name];
        out.push({ path: at.join('.'), name, ...('default' in v ? { default: v.default } : {}) });
        keys(v, at, out);
      }
    if (typeof n.additionalProperties === 'object') keys(n.additionalProperties as Node, [...path, '*'], out);
    if (typeof n.items === 'object') keys(n.items as Node, [...path, '[]'], out);
  }
  return out;
}

/** yamlText is every ```yaml block of the README, comments included (commented-out keys count). */
function yamlText(): string {
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8');
  return [...readme.matchAll(/```yaml\n([\s\S]*?)```/g)].map((m) => m[1]).join('\n');
}

/** shown renders a default as the README writes it: `30s`, `"scaleplane:http:"`, `[1d, 7d]`. */
function shown(value: unknown): string[] {
  if (Array.isArray(value)) return [`[${value.join(', ')}]`];
  if (typeof value === 'string') return [value, `"${value}"`];
  return [String(value)];
}

/** reEscape quotes a string for a RegExp. */
const reEscape = (s: string): string => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');

describe("README: the config schema's keys and defaults", () => {
  const text = yamlText();
  const all = keys(configJsonSchema() as Node);
  const names = [...new Set(all.map((k) => k.name))];

  it('the walk finds the keys (a broken walk would pass everything)', () => {
    for (const path of [
      'api.listen',
      'groups.*.scaling.predictive.level_window',
      'alerts.sinks.[].sentry.send_resolved',
    ])
      assert.ok(
        all.some((k) => k.path === path),
        `${path} not walked; walked ${all.length} keys`,
      );
  });

  it('every key appears in a YAML example', () => {
    const missing = names.filter((name) => !new RegExp(`(^|[\\s{(,#-])${reEscape(name)}:`, 'm').test(text));
    assert.deepEqual(missing, [], `keys of the schema in no YAML block of README.md: ${missing.join(', ')}`);
  });

  it('every default appears once as `key: default`', () => {
    const wrong = all
      .filter((k) => k.default !== undefined && (typeof k.default !== 'object' || Array.isArray(k.default)))
      .filter(
        (k) =>
          !shown(k.default).some((v) =>
            new RegExp(`(^|[\\s{(,#-])${reEscape(k.name)}: ${reEscape(v)}(\\s|,|}|\\)|$)`, 'm').test(text),
          ),
      )
      .map((k) => `${k.path} (default ${JSON.stringify(k.default)})`);
    assert.deepEqual(wrong, [], `defaults README.md never shows as "key: default": ${wrong.join(', ')}`);
  });
});
