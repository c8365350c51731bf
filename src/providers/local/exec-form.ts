/**
 * Words that cannot follow `exec`: shell keywords and builtins (a command that is one of them is
 * run by the shell itself, not a program to replace it with), and `exec` already there.
 */
const NOT_A_PROGRAM = new Set([
  '!',
  '{',
  '}',
  '[[',
  'if',
  'then',
  'else',
  'elif',
  'fi',
  'do',
  'done',
  'case',
  'esac',
  'while',
  'until',
  'for',
  'in',
  'function',
  'exec',
  'eval',
  '.',
  'source',
  'cd',
  'export',
  'readonly',
  'local',
  'set',
  'unset',
  'shift',
  'trap',
  'ulimit',
  'umask',
  'wait',
  'command',
  'builtin',
  'alias',
  'time',
  ':',
]);

/**
 * execForm returns `exec <command>` when `command` is one simple command (`node server.js`,
 * `"/usr/bin/python3" -m app --port $PORT`), so `/bin/sh -c` replaces itself with the program
 * instead of running it as its child: the instance's pid, which `scaleplane status` shows and the
 * stop and parent-death signals reach first, is then the app's, the one a user would `kill` or find
 * in `top`. dash (Debian's /bin/sh) runs even a lone `-c` command as a child, and the cgroup prefix
 * makes every command a list anyway, so before, every instance's pid was a `sh` idling at 0 % CPU.
 * Anything else (a list with `;`, `&&`, `|`, `&`, a newline, a subshell, a leading assignment
 * `FOO=1 app`, a keyword or builtin) is returned unchanged and keeps its shell. Pure.
 */
export function execForm(command: string): string {
  const text = command.trim();
  if (text === '' || hasOperator(text)) return command;
  const first = /^\S+/.exec(text)?.[0] ?? '';
  if (NOT_A_PROGRAM.has(first)) return command;
  // An assignment first (`PORT=1 app`) would be taken by exec as the program's name.
  if (/^[A-Za-z_][A-Za-z0-9_]*=/.test(first)) return command;
  // A redirection first (`>log app`) is legal, but so is `>log` alone, which exec would apply to
  // the shell itself: left alone.
  if (/^[0-9]*[<>]/.test(first)) return command;
  return `exec ${text}`;
}

/**
 * hasOperator says whether `text` has, outside quotes, what makes more than one simple command: `;`,
 * `&` (not in a redirection such as `2>&1`), `|`, a parenthesis, a backquote or a line break.
 * Inside quotes they are the program's arguments (`node -e "a(); b()"`).
 */
function hasOperator(text: string): boolean {
  let quote: "'" | '"' | undefined;
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]!;
    if (quote === "'") {
      if (ch === "'") quote = undefined;
      continue;
    }
    if (ch === '\\') {
      i++;
      continue;
    }
    if (quote === '"') {
      if (ch === '"') quote = undefined;
      continue;
    }
    if (ch === "'" || ch === '"') quote = ch;
    else if (ch === '&' && (text[i - 1] === '>' || text[i - 1] === '<')) continue;
    else if (';&|()`\n\r'.includes(ch)) return true;
  }
  // An unclosed quote: the shell's error to report, unchanged.
  return quote !== undefined;
}
