/** Serializer turns values into the strings stored in Redis and back. Plug in your own (e.g. superjson). */
export interface Serializer {
  serialize(value: unknown): string;
  deserialize(text: string): unknown;
}

// Tagged values are objects of exactly these two keys.
const TAG = '$sp';
// Text holding tagged values starts with this mark (never the first character of JSON), so plain
// JSON — the usual case — is parsed without a reviver and without searching it for tags first.
const REVIVE = '~';
const REVIVE_CODE = REVIVE.charCodeAt(0);

// Set by the replacer when it tagged anything; stringify is synchronous, so module state is safe.
let taggedAny = false;
// Whether the replacer refuses what would not come back as it was (values: yes; wrap's keys: no).
let strict = true;

/**
 * lossy names what JSON would turn into something else without a word — a function or symbol
 * (dropped, or undefined), an object of a class without toJSON (a plain object without its methods;
 * a RegExp, Error or WeakMap: {}) — or undefined when `raw` comes back as it was. Objects with a
 * toJSON (URL, Decimal, Luxon…) are taken as their authors meant: as what toJSON gives.
 */
function lossy(raw: unknown, value: unknown): string | undefined {
  if (typeof raw === 'function') return 'a function';
  if (typeof raw === 'symbol') return 'a symbol';
  if (raw === null || typeof raw !== 'object' || value !== raw) return undefined;
  const proto = Object.getPrototypeOf(raw) as object | null;
  if (proto === null || proto === Object.prototype || Array.isArray(raw)) return undefined;
  const name = (proto as { constructor?: { name?: unknown } }).constructor?.name;
  return `${typeof name === 'string' && name !== '' ? `a ${name}` : 'an object of a class'} instance (it would come back a plain object)`;
}

/** LossyValueError says what in a value the default serializer cannot bring back, and where. */
class LossyValueError extends TypeError {
  constructor(what: string, key: string) {
    super(
      `${what}${key === '' ? '' : ` at "${key}"`} cannot be stored as it is: make it plain data, or plug in a serializer that keeps it`,
    );
    this.name = 'LossyValueError';
  }
}

function tagged(type: string, v: unknown): Record<string, unknown> {
  taggedAny = true;
  return { [TAG]: type, v };
}

type TypedArrayConstructor = new (buffer: ArrayBuffer) => ArrayBufferView;

const TYPED_ARRAYS: ReadonlyMap<string, TypedArrayConstructor> = new Map<string, TypedArrayConstructor>([
  ['Int8Array', Int8Array],
  ['Uint8Array', Uint8Array],
  ['Uint8ClampedArray', Uint8ClampedArray],
  ['Int16Array', Int16Array],
  ['Uint16Array', Uint16Array],
  ['Int32Array', Int32Array],
  ['Uint32Array', Uint32Array],
  ['Float32Array', Float32Array],
  ['Float64Array', Float64Array],
  ['BigInt64Array', BigInt64Array],
  ['BigUint64Array', BigUint64Array],
]);

/** bytesOf decodes base64 into a fresh ArrayBuffer of exactly its bytes (aligned for any typed array). */
function bytesOf(base64: string): ArrayBuffer {
  const bytes = Buffer.from(base64, 'base64');
  const out = new ArrayBuffer(bytes.length);
  new Uint8Array(out).set(bytes);
  return out;
}

function isTaggedShape(value: Record<string, unknown>): boolean {
  const keys = Object.keys(value);
  return keys.length === 2 && TAG in value && 'v' in value;
}

function replacer(this: Record<string, unknown>, key: string, value: unknown): unknown {
  // JSON.stringify has already called Date#toJSON on `value`; the holder still has the Date.
  const raw = this[key];
  if (raw instanceof Date) return tagged('Date', Number.isNaN(raw.getTime()) ? null : raw.toISOString());
  if (typeof raw === 'bigint') return tagged('BigInt', raw.toString());
  if (raw === undefined) return key === '' || Array.isArray(this) ? tagged('undefined', 0) : undefined;
  if (raw instanceof Map) return tagged('Map', [...raw.entries()]);
  if (raw instanceof Set) return tagged('Set', [...raw.values()]);
  if (typeof raw === 'number' && !Number.isFinite(raw)) return tagged('Number', String(raw));
  // Binary data: JSON turns a Buffer into { type, data: [...] } and a typed array into { '0': … },
  // which came back from Redis as plain objects while the memory tier handed out the Buffer itself.
  // Their bytes travel as base64, tagged with the kind to rebuild.
  if (raw instanceof ArrayBuffer) return tagged('ArrayBuffer', Buffer.from(raw).toString('base64'));
  if (ArrayBuffer.isView(raw) && !(raw instanceof DataView)) {
    const kind = Buffer.isBuffer(raw) ? 'Buffer' : raw.constructor.name;
    if (kind === 'Buffer' || TYPED_ARRAYS.has(kind))
      return tagged(kind, Buffer.from(raw.buffer, raw.byteOffset, raw.byteLength).toString('base64'));
  }
  if (strict) {
    const what = lossy(raw, value);
    if (what !== undefined) throw new LossyValueError(what, key);
  }
  // A user object that looks tagged travels as its entries, which the reviver never mistakes for a tag.
  if (
    raw !== null &&
    typeof raw === 'object' &&
    !Array.isArray(raw) &&
    isTaggedShape(value as Record<string, unknown>)
  )
    return tagged('o', Object.entries(value as Record<string, unknown>));
  return value;
}

function revive(type: unknown, v: unknown): unknown {
  switch (type) {
    case 'Date':
      return new Date(v === null ? Number.NaN : (v as string));
    case 'BigInt':
      return BigInt(v as string);
    case 'undefined':
      revivedUndefined = true;
      return undefined;
    case 'Map':
      return new Map(v as [unknown, unknown][]);
    case 'Set':
      return new Set(v as unknown[]);
    case 'Number':
      return Number(v);
    case 'o':
      return Object.fromEntries(v as [string, unknown][]);
    case 'Buffer':
      return Buffer.from(v as string, 'base64');
    case 'ArrayBuffer':
      return bytesOf(v as string);
    default: {
      const typed = typeof type === 'string' ? TYPED_ARRAYS.get(type) : undefined;
      if (typed !== undefined) return new typed(bytesOf(v as string));
      return { [TAG]: type, v };
    }
  }
}

// JSON.parse deletes what a reviver maps to undefined, leaving holes in arrays; we refill them,
// but only during a parse that revived an undefined at all.
let revivedUndefined = false;

function reviver(_key: string, value: unknown): unknown {
  if (Array.isArray(value)) {
    if (revivedUndefined) for (let i = 0; i < value.length; i++) if (!(i in value)) value[i] = undefined;
    return value;
  }
  if (value !== null && typeof value === 'object') {
    const record = value as Record<string, unknown>;
    if (isTaggedShape(record)) return revive(record[TAG], record.v);
  }
  return value;
}

function stringify(value: unknown, refuseLossy: boolean): string {
  taggedAny = false;
  strict = refuseLossy;
  try {
    const text = JSON.stringify(value, replacer) ?? JSON.stringify(tagged('undefined', 0));
    return taggedAny ? REVIVE + text : text;
  } finally {
    strict = true;
  }
}

/**
 * jsonSerializer is the default: JSON that keeps Date, Map, Set, BigInt, undefined, NaN and ±Infinity,
 * Buffer, ArrayBuffer and typed arrays (Uint8Array, Float64Array…). An object with a toJSON is stored
 * as what toJSON gives. What JSON would silently turn into something else — a class instance (a
 * plain object without its methods), a function or symbol (undefined, or a dropped property), a
 * RegExp, Error, WeakMap ({}) — throws a TypeError saying what and where: before, the memory tier
 * handed out the value itself while Redis gave every other reader the altered one.
 */
export const jsonSerializer: Serializer = {
  serialize(value) {
    return stringify(value, true);
  },
  deserialize(text) {
    // A reviver makes JSON.parse several times slower; text without tags needs none.
    if (text.charCodeAt(0) !== REVIVE_CODE) return JSON.parse(text);
    revivedUndefined = false;
    return JSON.parse(text.slice(1), reviver);
  },
};

/**
 * lenientJsonSerializer is jsonSerializer without the refusal, as the default was before it: a class
 * instance is stored as its own fields and read back a plain object, a function or symbol as
 * undefined (or left out). For code that relied on that; every reader then gets the altered value
 * from Redis while the memory tier of the instance that stored it hands out the original.
 */
export const lenientJsonSerializer: Serializer = {
  serialize(value) {
    return stringify(value, false);
  },
  deserialize: jsonSerializer.deserialize,
};

/**
 * argumentsText writes `wrap`'s arguments as jsonSerializer does, but takes what it cannot bring back
 * (a class instance as its fields, a function as nothing): a key is only compared, never read back.
 */
export function argumentsText(args: readonly unknown[]): string {
  return stringify(args, false);
}
