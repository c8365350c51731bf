import { StringDecoder } from 'node:string_decoder';

/** MAX_LINE_CHARS is the longest instance output line kept whole; the rest of a longer one is dropped. */
export const MAX_LINE_CHARS = 16 * 1024;

/**
 * LineSplitter cuts an instance's output into lines with a bounded buffer. readline keeps an
 * unterminated line whole, so a child writing without newlines (`cat /dev/zero`, a binary dump, a
 * progress bar) grew Scaleplane's heap until V8's string limit threw an uncaught RangeError and
 * took the controller and every group down. Here a line longer than `max` is emitted once with its
 * first `max` characters and a note, and the rest of it, up to the next newline, is discarded.
 */
export class LineSplitter {
  readonly #decoder = new StringDecoder('utf8');
  readonly #max: number;
  #buffer = '';
  /** Characters dropped from the current line (it was cut). */
  #dropped = 0;

  constructor(max = MAX_LINE_CHARS) {
    this.#max = max;
  }

  /** push takes one chunk and returns the lines it completed (without `\n`, `\r\n` trimmed). */
  push(chunk: Buffer | string): string[] {
    const text = typeof chunk === 'string' ? chunk : this.#decoder.write(chunk);
    const lines: string[] = [];
    let start = 0;
    for (;;) {
      const nl = text.indexOf('\n', start);
      const piece = text.slice(start, nl < 0 ? text.length : nl);
      this.#append(piece, lines);
      if (nl < 0) break;
      const line = this.#take();
      if (line !== undefined) lines.push(line);
      start = nl + 1;
    }
    return lines;
  }

  /** end returns the last, unterminated line, if any. */
  end(): string[] {
    const lines: string[] = [];
    this.#append(this.#decoder.end(), lines);
    const last = this.#buffer === '' ? undefined : this.#take();
    return last === undefined ? lines : [...lines, last];
  }

  #append(piece: string, lines: string[]): void {
    if (this.#dropped > 0) {
      this.#dropped += piece.length;
      return;
    }
    const room = this.#max - this.#buffer.length;
    if (piece.length <= room) {
      this.#buffer += piece;
      return;
    }
    this.#buffer += piece.slice(0, room);
    this.#dropped = piece.length - room;
    // Emitted now, not at the newline that may never come.
    lines.push(`${this.#buffer} …[line longer than ${this.#max} characters; rest dropped]`);
    this.#buffer = '';
  }

  /** take ends the current line: its text, or undefined for a line already emitted when cut. */
  #take(): string | undefined {
    const line = this.#buffer.endsWith('\r') ? this.#buffer.slice(0, -1) : this.#buffer;
    const cut = this.#dropped > 0;
    this.#buffer = '';
    this.#dropped = 0;
    return cut ? undefined : line;
  }
}
