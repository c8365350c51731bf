/**
 * CSV traces: a header line, then `time,value` per line, at any regular or irregular step (a
 * Prometheus or Grafana export, a spreadsheet). `time` is unix seconds, unix milliseconds or
 * ISO-8601; `value` is a rate in requests per second. Parsed by hand: two numeric columns need
 * no library, and quoted fields, CRLF/CR line ends and a byte-order mark are handled here.
 */
import { holdSamples, type TimedTrace, TraceError, type TracePoint } from './trace-points.js';

/** Numbers at or above this are milliseconds (1e11 s is the year 5138, 1e11 ms is 1973). */
const MS_THRESHOLD = 1e11;
const NUMBER = /^[+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?$/;
// Date, optional time (T or a space), optional offset; no offset means UTC.
const ISO = /^(\d{4})-(\d{2})-(\d{2})(?:[T ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d+)?)?(Z|[+-]\d{2}:?\d{2})?)?$/i;

/** CsvTraceOptions shape how a CSV trace is read. */
export interface CsvTraceOptions {
  /** Longest interval (s) a value is held. @defaultValue the longer of 5 min and the median interval */
  maxGap?: number;
}

/** TimeKind is how a trace writes its times. */
export type TimeKind = 'unix seconds' | 'unix milliseconds' | 'ISO-8601';

/**
 * parseCsvTrace reads a `time,value` CSV into a per-second series (each value held until the next
 * line). An empty value is a missing sample: the previous value holds over it, within the gap
 * bound. Throws a TraceError naming the line and what is wrong with it.
 */
export function parseCsvTrace(text: string, o: CsvTraceOptions = {}): TimedTrace {
  const lines = text.replace(/^\uFEFF/, '').split(/\r\n|\n|\r/);
  const header = splitFields(lines[0] ?? '', 1);
  if (header.length !== 2) {
    throw lineError(1, `expected a header of 2 columns such as time,value, got ${header.length}`);
  }
  if (parseTraceTime(header[0]!) !== undefined && NUMBER.test(header[1]!)) {
    throw lineError(1, `expected a header line such as time,value, got data: ${lines[0]}`);
  }
  const points: TracePoint[] = [];
  const lineOf: number[] = [];
  const raw: string[] = [];
  let kind: { kind: TimeKind; line: number } | undefined;
  let previous: { t: number; line: number; raw: string } | undefined;
  for (let i = 1; i < lines.length; i++) {
    const line = i + 1;
    if (lines[i]!.trim() === '') continue;
    const fields = splitFields(lines[i]!, line);
    if (fields.length !== 2) throw lineError(line, `expected 2 columns (time,value), got ${fields.length}`);
    const [timeText, valueText] = fields as [string, string];
    const time = parseTraceTime(timeText);
    if (!time) {
      throw lineError(
        line,
        `time ${JSON.stringify(timeText)} is not unix seconds, unix milliseconds or ISO-8601 (2024-05-01T10:00:00Z)`,
      );
    }
    if (kind === undefined) kind = { kind: time.kind, line };
    else if (time.kind !== kind.kind) {
      throw lineError(line, `time ${timeText} is in ${time.kind}, line ${kind.line}'s in ${kind.kind}`);
    }
    if (previous && !(time.t > previous.t)) {
      throw new TraceError(
        'TRACE_TIME_ORDER',
        `line ${line}: time ${timeText} is not after line ${previous.line}'s ${previous.raw}: times must increase`,
        { line },
      );
    }
    previous = { t: time.t, line, raw: timeText };
    if (valueText === '') continue;
    if (!NUMBER.test(valueText)) {
      throw lineError(line, `value ${JSON.stringify(valueText)} is not a number (requests per second)`);
    }
    const value = Number(valueText);
    if (!Number.isFinite(value) || value < 0) {
      throw lineError(line, `value ${valueText} is not a rate ≥ 0 (requests per second)`);
    }
    points.push({ t: time.t, value });
    lineOf.push(line);
    raw.push(timeText);
  }
  if (points.length === 0)
    throw new TraceError('TRACE_EMPTY', 'no line with a time and a value after the header');
  return holdSamples(points, {
    ...(o.maxGap === undefined ? {} : { maxGap: o.maxGap }),
    where: (k) => `line ${lineOf[k]} (${raw[k]})`,
  });
}

/**
 * parseTraceTime reads unix seconds, unix milliseconds (numbers ≥ 1e11) or ISO-8601 (date, then
 * optionally a time after `T` or a space and an offset; no offset means UTC) as unix seconds.
 */
export function parseTraceTime(text: string): { t: number; kind: TimeKind } | undefined {
  if (NUMBER.test(text)) {
    const n = Number(text);
    if (!Number.isFinite(n)) return undefined;
    return Math.abs(n) >= MS_THRESHOLD
      ? { t: n / 1000, kind: 'unix milliseconds' }
      : { t: n, kind: 'unix seconds' };
  }
  const m = ISO.exec(text);
  if (!m) return undefined;
  const [year, month, day] = [Number(m[1]), Number(m[2]), Number(m[3])];
  // Date.parse rolls 2024-02-30 over into March; a calendar date that does not exist is a typo.
  if (month < 1 || month > 12 || new Date(Date.UTC(year, month - 1, day)).getUTCDate() !== day)
    return undefined;
  if (m[4] !== undefined && (Number(m[4]) > 23 || Number(m[5]) > 59 || Number(m[6] ?? 0) > 59))
    return undefined;
  let iso = text.replace(' ', 'T');
  if (m[4] !== undefined && m[7] === undefined) iso += 'Z';
  const ms = Date.parse(iso);
  return Number.isNaN(ms) ? undefined : { t: ms / 1000, kind: 'ISO-8601' };
}

/**
 * splitFields splits one CSV line on commas; a field may be quoted (`"…"`, `""` for a quote), and
 * spaces around a field are dropped. A line break inside quotes is not supported (no trace needs one).
 */
function splitFields(text: string, line: number): string[] {
  const fields: string[] = [];
  let i = 0;
  for (;;) {
    while (text[i] === ' ' || text[i] === '\t') i++;
    let field = '';
    if (text[i] === '"') {
      i++;
      for (;;) {
        if (i >= text.length) throw lineError(line, 'a quoted field is not closed on its line');
        if (text[i] === '"') {
          if (text[i + 1] === '"') {
            field += '"';
            i += 2;
            continue;
          }
          i++;
          break;
        }
        field += text[i++];
      }
      while (text[i] === ' ' || text[i] === '\t') i++;
      if (i < text.length && text[i] !== ',') {
        throw lineError(line, `unexpected ${JSON.stringify(text[i])} after a closing quote`);
      }
      field = field.trim();
    } else {
      const comma = text.indexOf(',', i);
      const end = comma === -1 ? text.length : comma;
      field = text.slice(i, end).trim();
      i = end;
    }
    fields.push(field);
    if (i >= text.length) return fields;
    i++; // the comma
  }
}

function lineError(line: number, what: string): TraceError {
  return new TraceError('TRACE_BAD_LINE', `line ${line}: ${what}`, { line });
}
