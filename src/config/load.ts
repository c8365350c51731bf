/**
 * Reading scaleplane.yaml: text → YAML document → validated draft → resolved Config, with every
 * problem reported by YAML path and line.
 */
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { type Document, LineCounter, parseDocument, visit } from 'yaml';
import type { z } from 'zod';
import { ConfigError, type ConfigIssue } from './errors.js';
import { badMerges, lineOf, syntaxIssues } from './locate.js';
import { closeMatch, resolveConfig, schemaFor } from './schema.js';
import { keepEnvText, keepKeyText } from './source-text.js';
import { tlsIssues } from './tls.js';
import type { Config } from './types.js';

/** ParseConfigOptions says where a config text came from. */
export interface ParseConfigOptions {
  /** Absolute path of the file, used in errors and kept as `Config.source`. */
  source?: string;
  /** Folder that relative paths in the config (such as `cwd`) are resolved against. */
  baseDir: string;
}

/**
 * parseConfig validates YAML text (full or short form) into a Config.
 * Throws a ConfigError listing every problem with its YAML path and line.
 */
export function parseConfig(text: string, options: ParseConfigOptions): Config {
  const { source, baseDir } = options;
  const counter = new LineCounter();
  // `merge` lets groups share settings through `<<: *defaults`, as YAML 1.1 users expect.
  const doc = parseDocument(text, { lineCounter: counter, prettyErrors: false, merge: true });
  if (doc.errors.length > 0) throw new ConfigError(syntaxIssues(doc, counter), { source });
  keepEnvText(doc);
  keepKeyText(doc);
  const raw = toPlainValue(doc, counter, source);
  // zod copies a mapping key by key, and `copy.__proto__ = v` sets a prototype instead of a key:
  // without this, a `__proto__` key would vanish instead of being reported.
  const protoKeys = protoKeyPaths(raw).map((path) => ({
    path: path.join('.'),
    line: lineOf(doc, counter, path),
    message: 'unknown key',
  }));
  const result = schemaFor(raw).safeParse(raw, { error: issueMessage });
  if (!result.success)
    throw new ConfigError(
      [...protoKeys, ...toConfigIssues(result.error.issues, doc, counter)].sort(
        (a, b) => (a.line ?? 0) - (b.line ?? 0),
      ),
      { source },
    );
  if (protoKeys.length > 0) throw new ConfigError(protoKeys, { source });
  const config = resolveConfig(result.data, { baseDir, ...(source === undefined ? {} : { source }) });
  const files = tlsIssues(config);
  if (files.length > 0)
    throw new ConfigError(
      files.map(({ path, message }) => ({ path: path.join('.'), line: lineOf(doc, counter, path), message })),
      { source },
    );
  return config;
}

/** loadConfig reads and validates the config file at `path`; relative paths in it are resolved against its folder. */
export async function loadConfig(path: string): Promise<Config> {
  const source = resolve(path);
  let bytes: Buffer;
  try {
    bytes = await readFile(source);
  } catch (error) {
    const reason = (error as NodeJS.ErrnoException).code ?? (error as Error).message;
    throw new ConfigError([{ path: '', message: `cannot read the file (${reason})` }], {
      source,
      cause: error,
    });
  }
  return parseConfig(decodeUtf8(bytes, source), { source, baseDir: dirname(source) });
}

/**
 * lineInFile is the line of `path` in the config file as it is on disk now, for a problem found after
 * loading (an alert sink's secret, read from the environment): undefined when the file cannot be
 * read or parsed. Best effort, for the message only: the file may have changed since it was loaded.
 */
export async function lineInFile(source: string, path: readonly PropertyKey[]): Promise<number | undefined> {
  try {
    const counter = new LineCounter();
    const doc = parseDocument(await readFile(source, 'utf8'), { lineCounter: counter, merge: true });
    return doc.errors.length > 0 ? undefined : lineOf(doc, counter, path);
  } catch {
    return undefined;
  }
}

/**
 * decodeUtf8 reads the file as UTF-8, refusing a byte that is not: readFile's 'utf8' turned it into
 * U+FFFD, and `command: node \xff.js` ran a command no one wrote. A UTF-8 BOM is dropped.
 */
function decodeUtf8(bytes: Buffer, source: string): string {
  try {
    return new TextDecoder('utf-8', { fatal: true }).decode(bytes);
  } catch (error) {
    throw new ConfigError(
      [{ path: '', line: firstBadLine(bytes), message: 'not valid UTF-8 (save the file as UTF-8)' }],
      { source, cause: error },
    );
  }
}

/** firstBadLine is the 1-based line of the first byte sequence that is not UTF-8. */
function firstBadLine(bytes: Buffer): number {
  const decoder = new TextDecoder('utf-8', { fatal: true });
  let line = 1;
  for (let start = 0; start <= bytes.length; line++) {
    const end = bytes.indexOf(0x0a, start);
    const stop = end === -1 ? bytes.length : end;
    try {
      decoder.decode(bytes.subarray(start, stop));
    } catch {
      return line;
    }
    if (end === -1) break;
    start = end + 1;
  }
  return line;
}

/**
 * defaultConfigPath is the absolute path of the bundled demo config, `examples/demo/scaleplane.yaml`
 * in the package root. It works from `src/config` (tsx) and from `dist/config` (compiled) alike.
 */
export function defaultConfigPath(): string {
  return join(packageRoot(dirname(fileURLToPath(import.meta.url))), 'examples', 'demo', 'scaleplane.yaml');
}

function packageRoot(start: string): string {
  for (let dir = start; ; dir = dirname(dir)) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    if (dirname(dir) === dir) throw new Error(`no package.json above ${start}`);
  }
}

function toPlainValue(doc: Document, counter: LineCounter, source: string | undefined): unknown {
  try {
    // An empty file is an empty mapping, so the error is the helpful "define at least one group".
    return doc.toJS() ?? {};
  } catch (error) {
    // toJS throws on alias bombs (too many alias expansions) and on a merge of a non-mapping.
    const merges = badMerges(doc, counter);
    const issues = merges.length > 0 ? merges : [aliasIssue(doc, counter, error as Error)];
    throw new ConfigError(issues, { source, cause: error });
  }
}

/**
 * aliasIssue words the yaml library's refusal of an alias bomb ("Excessive alias count indicates a
 * resource exhaustion attack", with no position) and points at the first alias of the file.
 */
function aliasIssue(doc: Document, counter: LineCounter, error: Error): ConfigIssue {
  if (!/alias/i.test(error.message)) return { path: '', message: error.message };
  let line: number | undefined;
  visit(doc, {
    Alias(_key, node) {
      if (node.range) line = counter.linePos(node.range[0]).line;
      return visit.BREAK;
    },
  });
  return {
    path: '',
    ...(line === undefined ? {} : { line }),
    message: `refused: the aliases (*name, the first one here) expand to more than the YAML reader allows, as an alias bomb does (${error.message})`,
  };
}

/**
 * protoKeyPaths lists the path of every own `__proto__` key in a plain value read from YAML. Each
 * object is visited once: an alias can make the value cyclic (`a: &x [*x]`).
 */
function protoKeyPaths(
  value: unknown,
  path: PropertyKey[] = [],
  seen = new WeakSet<object>(),
): PropertyKey[][] {
  if (value === null || typeof value !== 'object' || seen.has(value)) return [];
  seen.add(value);
  if (Array.isArray(value)) return value.flatMap((item, i) => protoKeyPaths(item, [...path, i], seen));
  return Object.keys(value).flatMap((key) =>
    key === '__proto__'
      ? [[...path, key]]
      : protoKeyPaths((value as Record<string, unknown>)[key], [...path, key], seen),
  );
}

function toConfigIssues(
  issues: readonly z.core.$ZodIssue[],
  doc: Document,
  counter: LineCounter,
): ConfigIssue[] {
  return issues
    .flatMap((issue) => expandIssue(issue))
    .map(({ path, message }) => ({
      path: path.map(String).join('.'),
      line: lineOf(doc, counter, path),
      message,
    }))
    .sort((a, b) => a.line - b.line);
}

/** expandIssue gives one entry per offending key for zod issues that bundle several. */
function expandIssue(issue: z.core.$ZodIssue): { path: PropertyKey[]; message: string }[] {
  if (issue.code === 'unrecognized_keys') {
    return issue.keys.map((key) => ({ path: [...issue.path, key], message: 'unknown key' }));
  }
  if (issue.code === 'invalid_key') {
    return [{ path: issue.path, message: issue.issues[0]?.message ?? issue.message }];
  }
  return [{ path: issue.path, message: issue.message }];
}

/** issueMessage words zod's generic issues the way a YAML author reads them. */
function issueMessage(issue: z.core.$ZodRawIssue): string | undefined {
  switch (issue.code) {
    case 'invalid_type':
      return issue.input === undefined
        ? 'required'
        : `expected ${expectedNoun(issue.expected)}, got ${describeValue(issue.input)}`;
    case 'invalid_value': {
      const expected = `expected ${issue.values.map((value) => JSON.stringify(value)).join(' or ')}`;
      const words = issue.values.filter((value): value is string => typeof value === 'string');
      const meant = typeof issue.input === 'string' ? closeMatch(issue.input, words) : undefined;
      const hint = meant === undefined ? '' : ` (did you mean "${meant}"?)`;
      return `${expected}, got ${describeValue(issue.input)}${hint}`;
    }
    case 'too_small':
      if (issue.origin === 'array') return `must list at least ${issue.minimum}`;
      if (issue.origin === 'string') return 'must not be empty';
      return `must be ${issue.inclusive ? '>=' : '>'} ${issue.minimum}`;
    case 'too_big':
      if (issue.origin === 'array') return `must list at most ${issue.maximum}`;
      if (issue.origin === 'string') return `must be at most ${issue.maximum} characters`;
      return `must be ${issue.inclusive ? '<=' : '<'} ${issue.maximum}`;
    default:
      return undefined;
  }
}

const NOUNS: Readonly<Record<string, string>> = {
  object: 'a mapping',
  record: 'a mapping',
  array: 'a list',
  string: 'a string',
  number: 'a number',
  int: 'an integer',
  boolean: 'true or false',
};

function expectedNoun(expected: string): string {
  return NOUNS[expected] ?? expected;
}

function describeValue(value: unknown): string {
  if (value === null) return 'nothing';
  if (Array.isArray(value)) return 'a list';
  if (typeof value === 'object') return 'a mapping';
  // JSON.stringify writes Infinity and NaN as `null`: `1e309` and `.inf` read "got null".
  if (typeof value === 'number' && !Number.isFinite(value))
    return Number.isNaN(value)
      ? 'NaN (not a number)'
      : `${value < 0 ? 'minus ' : ''}infinity (a number too large to hold)`;
  return JSON.stringify(value) ?? String(value);
}
