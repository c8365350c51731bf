import { isAbsolute, resolve } from 'node:path';

/**
 * Where the running NGINX master writes its pid, asked of NGINX itself when `balancer.nginx.pid_file`
 * is not set: users rarely set it, since NGINX already knows. The answer comes from the same
 * command line as `test_command` (its binary, wrappers such as sudo, `-c`, `-p`, `-g`), with its
 * `-t` turned into `-T` (test and dump the whole config, includes too) for the `pid` directive and,
 * when there is none or it is relative, into `-V` for the compiled-in `--pid-path=` and `--prefix=`.
 * The dump runs after a `test_command` that passed, so it passes too (before the include file is
 * written, `nginx -T` may fail on the missing include or on `host not found in upstream`). A
 * `test_command` with no `-t` (a wrapper script) is asked through `reload_command`'s `-s reload`. A
 * `reload_command` of the form `kill -HUP $(cat FILE)` names the file itself: it is used as is.
 */

/** CommandOutput is what a command printed. */
export interface CommandOutput {
  readonly stdout: string;
  readonly stderr: string;
}

/** PidFileDiscovery is the pid file NGINX named and where it came from, or why none was found. */
export type PidFileDiscovery =
  | { readonly pidFile: string; readonly source: string }
  | { readonly pidFile?: undefined; readonly reason: string };

/** NGX_PREFIX and NGX_PID_PATH: NGINX's own defaults, when `configure` was given neither. */
const DEFAULT_PREFIX = '/usr/local/nginx';
const DEFAULT_PID_PATH = 'logs/nginx.pid';

/**
 * withFlag is `testCommand` with its `-t` (alone, or among flags that take no argument: `-tq`,
 * `-qt`) turned into `-flag`, or undefined when it has none.
 */
export function withFlag(testCommand: string, flag: 'T' | 'V'): string | undefined {
  const t = /(^|\s)(-[qhvV?]*)t(?=[qhvV?]*(?:\s|$))/;
  return t.test(testCommand) ? testCommand.replace(t, `$1$2${flag}`) : undefined;
}

/**
 * signalAsFlag is `reloadCommand` with its `-s reload` (or `-sreload`, after flags such as `-q`)
 * turned into `-flag`, or undefined when it has none. `nginx -s reload` signals the master named by
 * the `pid` of the config it reads, so the same command line dumping that config names the pid
 * file the reload goes to: the fallback when `test_command` has no `-t` (a wrapper script).
 */
export function signalAsFlag(reloadCommand: string, flag: 'T' | 'V'): string | undefined {
  const s = /(^|\s)(-[qhvV?]*)s\s*reload(?=\s|$)/;
  return s.test(reloadCommand) ? reloadCommand.replace(s, `$1$2${flag}`) : undefined;
}

/**
 * KILL_HUP is a reload command that sends SIGHUP to the pid in a file: `kill -HUP $(cat FILE)`, with
 * `-s HUP`, `-SIGHUP`, `-1` or `--signal HUP`, `$(< FILE)` or backquotes, the substitution quoted or
 * not, after `sudo`. The file is a plain path (no quotes, spaces or expansions).
 */
const KILL_HUP =
  /^\s*(?:sudo\s+)?(?:\S*\/)?kill\s+(?:-s\s*(?:SIG)?HUP|--signal[=\s]\s*(?:SIG)?HUP|-(?:SIG)?HUP|-1)\s+("?)(?:\$\(\s*(?:cat\s+|<\s*)([^\s"'`$();|&<>\\]+)\s*\)|`\s*cat\s+([^\s"'`$();|&<>\\]+)\s*`)\1\s*$/;

/**
 * signaledPidFile is the pid file `reloadCommand` signals when it is a `kill -HUP $(cat FILE)`
 * (KILL_HUP), resolved against `cwd` (the shell runs the command there), or undefined for any other
 * command. That file names the master the reload goes to, whatever config NGINX was started with.
 */
export function signaledPidFile(reloadCommand: string, cwd: string): string | undefined {
  const m = KILL_HUP.exec(reloadCommand);
  const file = m?.[2] ?? m?.[3];
  return file === undefined ? undefined : resolve(cwd, file);
}

/** shellWords splits a command into words as sh does (quotes, backslashes), without expansions. */
export function shellWords(command: string): string[] {
  const words: string[] = [];
  let word: string | undefined;
  for (let i = 0; i < command.length; i++) {
    const c = command[i]!;
    if (/\s/.test(c)) {
      if (word !== undefined) words.push(word);
      word = undefined;
    } else if (c === "'") {
      const end = command.indexOf("'", i + 1);
      word = (word ?? '') + command.slice(i + 1, end < 0 ? command.length : end);
      i = end < 0 ? command.length : end;
    } else if (c === '"') {
      word ??= '';
      for (i++; i < command.length && command[i] !== '"'; i++) {
        if (command[i] === '\\' && /["\\$`]/.test(command[i + 1] ?? '')) i++;
        word += command[i];
      }
    } else if (c === '\\') {
      word = (word ?? '') + (command[++i] ?? '');
    } else {
      word = (word ?? '') + c;
    }
  }
  if (word !== undefined) words.push(word);
  return words;
}

/** nginxOption is the value of nginx's `-p` or `-g` among `words` (`-p DIR` or `-pDIR`, after flags such as `-q`). */
export function nginxOption(words: readonly string[], letter: 'g' | 'p'): string | undefined {
  const option = new RegExp(`^-[qtTvVh?]*${letter}(.*)$`, 's');
  for (let i = 0; i < words.length; i++) {
    const m = option.exec(words[i]!);
    if (m) return m[1] !== '' ? m[1] : words[i + 1];
  }
  return undefined;
}

/**
 * pidDirective is the value of the top-level `pid` directive in nginx config text (a file, a `-g`
 * string, or the `nginx -T` dump, whose `# configuration file PATH:` headers each start a file at
 * the top level), or undefined when there is none. `pid` is valid only there, so a `pid` inside a
 * block (a `map` key) is not it.
 */
export function pidDirective(text: string): string | undefined {
  let depth = 0;
  let words: string[] = [];
  let i = 0;
  while (i < text.length) {
    const c = text[i]!;
    if (c === '#') {
      const end = text.indexOf('\n', i);
      const line = text.slice(i, end < 0 ? text.length : end);
      if ((i === 0 || text[i - 1] === '\n') && /^# configuration file .*:$/.test(line)) {
        depth = 0;
        words = [];
      }
      i = end < 0 ? text.length : end + 1;
    } else if (/\s/.test(c)) {
      i++;
    } else if (c === ';') {
      if (depth === 0 && words.length === 2 && words[0] === 'pid') return words[1];
      words = [];
      i++;
    } else if (c === '{' || c === '}') {
      depth = c === '{' ? depth + 1 : Math.max(0, depth - 1);
      words = [];
      i++;
    } else if (c === '"' || c === "'") {
      let word = '';
      for (i++; i < text.length && text[i] !== c; i++) {
        if (text[i] === '\\' && i + 1 < text.length) i++;
        word += text[i];
      }
      words.push(word);
      i++;
    } else {
      let word = '';
      while (i < text.length && !/[\s;{}]/.test(text[i]!)) {
        // `${name}` keeps its braces inside the word.
        if (text[i] === '$' && text[i + 1] === '{') {
          const end = text.indexOf('}', i);
          word += text.slice(i, end < 0 ? text.length : end + 1);
          i = end < 0 ? text.length : end + 1;
        } else word += text[i++];
      }
      words.push(word);
    }
  }
  return undefined;
}

/** configureArgument is `--NAME=VALUE`'s value in `nginx -V` output, or undefined. */
export function configureArgument(version: string, name: string): string | undefined {
  return new RegExp(`(?:^|\\s)--${name}=(\\S+)`).exec(version)?.[1];
}

/** oneLine is a failed command's complaint, on one line and short. */
function oneLine(err: unknown): string {
  const text = (err as { stderr?: string }).stderr || (err as Error).message || String(err);
  const line = text.replace(/\s+/g, ' ').trim();
  return line.length > 300 ? `${line.slice(0, 300)}…` : line;
}

/**
 * discoverPidFile asks the NGINX that `testCommand` tests where its master writes its pid, running
 * commands with `run` (which resolves with their output). A relative path is resolved against the
 * prefix (`-p`, else `--prefix=` of `nginx -V`), as NGINX does. When `testCommand` has no `-t` (a
 * wrapper script), `reloadCommand`'s `-s reload` is turned into `-T` and `-V` instead (signalAsFlag).
 * A `reloadCommand` that signals the pid in a file itself (`kill -HUP $(cat FILE)`, signaledPidFile)
 * names that file, and nothing is asked.
 */
export async function discoverPidFile(
  testCommand: string,
  // biome-ignore lint/suspicious/noConfusingVoidType: the driver's CommandRunner, which may print nothing
  run: (command: string) => Promise<CommandOutput | void>,
  reloadCommand?: string,
  cwd: string = process.cwd(),
): Promise<PidFileDiscovery> {
  const signaled = reloadCommand === undefined ? undefined : signaledPidFile(reloadCommand, cwd);
  if (signaled !== undefined)
    return { pidFile: signaled, source: `the file reload_command "${reloadCommand}" signals` };
  let command = testCommand;
  let dump = withFlag(testCommand, 'T');
  let version = withFlag(testCommand, 'V');
  if ((dump === undefined || version === undefined) && reloadCommand !== undefined) {
    command = reloadCommand;
    dump = signalAsFlag(reloadCommand, 'T');
    version = signalAsFlag(reloadCommand, 'V');
  }
  if (dump === undefined || version === undefined) {
    const reload =
      reloadCommand === undefined
        ? ''
        : `, nor reload_command "${reloadCommand}" a -s reload to turn into -T or a kill -HUP $(cat FILE)`;
    return {
      reason: `test_command "${testCommand}" has no -t to turn into -T (nginx -T prints the config)${reload}`,
    };
  }
  const words = shellWords(command);
  const globals = nginxOption(words, 'g');
  let written = globals === undefined ? undefined : pidDirective(globals);
  let source = `the pid directive in -g of "${command}"`;
  if (written === undefined) {
    let out: CommandOutput | undefined;
    try {
      out = (await run(dump)) ?? undefined;
    } catch (err) {
      return { reason: `${dump} failed: ${oneLine(err)}` };
    }
    if (!out?.stdout.includes('# configuration file ')) return { reason: `${dump} printed no configuration` };
    written = pidDirective(out.stdout);
    source = `the pid directive in ${dump}`;
  }
  if (written !== undefined && isAbsolute(written)) return { pidFile: written, source };
  let build: string;
  try {
    const out = await run(version);
    build = `${out?.stdout ?? ''}\n${out?.stderr ?? ''}`;
  } catch (err) {
    return { reason: `${version} failed: ${oneLine(err)}` };
  }
  if (!build.includes('configure arguments:')) return { reason: `${version} printed no configure arguments` };
  const prefix = nginxOption(words, 'p') ?? configureArgument(build, 'prefix') ?? DEFAULT_PREFIX;
  if (written !== undefined)
    return { pidFile: resolve(prefix, written), source: `${source}, under prefix ${prefix}` };
  const compiled = configureArgument(build, 'pid-path');
  return compiled === undefined
    ? {
        pidFile: resolve(prefix, DEFAULT_PID_PATH),
        source: `nginx's default (no pid directive, no --pid-path in ${version})`,
      }
    : { pidFile: resolve(prefix, compiled), source: `--pid-path in ${version} (no pid directive)` };
}
