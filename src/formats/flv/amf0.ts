/**
 * AMF0 (Adobe Action Message Format 0, "AMF0 File Format Specification", 2006), the encoding of FLV script
 * data tags (FLV spec v10.1 E.4.4) such as onMetaData. Pure: bytes in, values out, and back.
 *
 * Decoding is defensive: every read is bounds-checked and a short or malformed value throws a FormatError
 * naming the byte offset; nesting is depth-limited; counts read from the input are never used to allocate.
 */
import { ByteWriter } from '../../core/bytes.js';
import { FormatError } from '../../core/errors.js';

/** AMF0 type markers (AMF0 spec 2.1). */
export const AMF0 = {
  number: 0x00,
  boolean: 0x01,
  string: 0x02,
  object: 0x03,
  movieclip: 0x04,
  null: 0x05,
  undefined: 0x06,
  reference: 0x07,
  ecmaArray: 0x08,
  objectEnd: 0x09,
  strictArray: 0x0a,
  date: 0x0b,
  longString: 0x0c,
  unsupported: 0x0d,
  recordset: 0x0e,
  xmlDocument: 0x0f,
  typedObject: 0x10,
  avmPlus: 0x11,
} as const;

export type AmfValue =
  number | boolean | string | null | undefined | Date | AmfValue[] | AmfObject | AmfEcmaArray;

export interface AmfObject {
  [key: string]: AmfValue;
}

/**
 * Marks an object to be encoded as an ECMA array (0x08) rather than an anonymous object (0x03): onMetaData
 * is conventionally an ECMA array. Decoding returns ECMA arrays as plain objects.
 */
export class AmfEcmaArray {
  constructor(readonly entries: AmfObject) {}
}

export function ecmaArray(entries: AmfObject): AmfEcmaArray {
  return new AmfEcmaArray(entries);
}

export interface AmfDecodeOptions {
  /** Added to error offsets, so that they name the position in the whole input. Default 0. */
  baseOffset?: number;
  /** Maximum nesting of objects and arrays. Default 64. */
  maxDepth?: number;
}

const utf8 = new TextDecoder('utf-8', { fatal: false });
const utf8enc = new TextEncoder();

/** Sets an own property even for keys such as `__proto__`, so hostile keys cannot touch prototypes. */
function put(obj: AmfObject, key: string, value: AmfValue): void {
  Object.defineProperty(obj, key, { value, enumerable: true, writable: true, configurable: true });
}

class AmfReader {
  pos: number;
  private readonly view: DataView;
  /** Complex values in order of appearance, for reference markers (AMF0 spec 2.9). */
  private readonly refs: AmfValue[] = [];

  constructor(
    private readonly data: Uint8Array,
    start: number,
    private readonly base: number,
    private readonly maxDepth: number,
  ) {
    this.pos = start;
    this.view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  }

  fail(message: string, at: number, code = 'E_AMF0_MALFORMED'): never {
    throw new FormatError(`AMF0: ${message}`, { code, offset: this.base + at });
  }

  need(n: number, what: string): void {
    if (this.pos + n > this.data.length) {
      this.fail(
        `${what} runs past the end (${n} bytes needed, ${this.data.length - this.pos} left)`,
        this.pos,
        'E_AMF0_TRUNCATED',
      );
    }
  }

  u16(): number {
    this.need(2, 'a 16-bit length');
    const v = this.view.getUint16(this.pos);
    this.pos += 2;
    return v;
  }

  u32(): number {
    this.need(4, 'a 32-bit count');
    const v = this.view.getUint32(this.pos);
    this.pos += 4;
    return v;
  }

  utf8(len: number): string {
    this.need(len, 'a string');
    const s = utf8.decode(this.data.subarray(this.pos, this.pos + len));
    this.pos += len;
    return s;
  }

  /** A property list: (UTF-8 key, value)* terminated by an empty key and the object-end marker (2.5). */
  properties(target: AmfObject, depth: number, countHint: number): void {
    for (let n = 0; ; n++) {
      // Some writers (old FMLE) end an ECMA array after `count` entries with no end marker when it is the
      // last thing in the tag: accept that rather than reject the whole onMetaData.
      if (countHint >= 0 && n >= countHint && this.pos === this.data.length) return;
      const keyAt = this.pos;
      const klen = this.u16();
      if (klen === 0) {
        this.need(1, 'the object-end marker');
        if (this.data[this.pos] === AMF0.objectEnd) {
          this.pos++;
          return;
        }
      }
      const key = this.utf8(klen);
      if (this.pos >= this.data.length)
        this.fail(`property "${key}" has no value`, keyAt, 'E_AMF0_TRUNCATED');
      put(target, key, this.value(depth + 1));
    }
  }

  value(depth: number): AmfValue {
    if (depth > this.maxDepth) this.fail(`nesting deeper than ${this.maxDepth}`, this.pos, 'E_AMF0_DEPTH');
    const at = this.pos;
    this.need(1, 'a type marker');
    const marker = this.data[this.pos++] as number;
    switch (marker) {
      case AMF0.number: {
        this.need(8, 'a number');
        const v = this.view.getFloat64(this.pos);
        this.pos += 8;
        return v;
      }
      case AMF0.boolean:
        this.need(1, 'a boolean');
        return this.data[this.pos++] !== 0;
      case AMF0.string:
        return this.utf8(this.u16());
      case AMF0.longString:
      case AMF0.xmlDocument:
        return this.utf8(this.u32());
      case AMF0.null:
        return null;
      case AMF0.undefined:
      case AMF0.unsupported:
        return undefined;
      case AMF0.object: {
        const obj: AmfObject = {};
        this.refs.push(obj);
        this.properties(obj, depth, -1);
        return obj;
      }
      case AMF0.typedObject: {
        // 2.18: a class name, then the properties of an anonymous object. The class name is dropped.
        this.utf8(this.u16());
        const obj: AmfObject = {};
        this.refs.push(obj);
        this.properties(obj, depth, -1);
        return obj;
      }
      case AMF0.ecmaArray: {
        // 2.10: the associative count is only a hint; the property list still ends with the end marker.
        const count = this.u32();
        const obj: AmfObject = {};
        this.refs.push(obj);
        this.properties(obj, depth, count);
        return obj;
      }
      case AMF0.strictArray: {
        const count = this.u32();
        // Each value takes at least one byte: a count larger than the bytes left is a lie, not a reason
        // to allocate.
        if (count > this.data.length - this.pos) {
          this.fail(
            `strict array of ${count} values in ${this.data.length - this.pos} bytes`,
            at,
            'E_AMF0_TRUNCATED',
          );
        }
        const arr: AmfValue[] = [];
        this.refs.push(arr);
        for (let i = 0; i < count; i++) arr.push(this.value(depth + 1));
        return arr;
      }
      case AMF0.date: {
        // 2.13: milliseconds since the epoch (UTC) as a double, then a time zone that must be ignored.
        this.need(10, 'a date');
        const ms = this.view.getFloat64(this.pos);
        this.pos += 10;
        return new Date(ms);
      }
      case AMF0.reference: {
        const idx = this.u16();
        const ref = this.refs[idx];
        if (ref === undefined) this.fail(`reference to complex value #${idx}, which does not exist`, at);
        return ref;
      }
      case AMF0.objectEnd:
        return this.fail('object-end marker outside an object', at);
      case AMF0.movieclip:
      case AMF0.recordset:
        return this.fail(`reserved type marker 0x${marker.toString(16)}`, at, 'E_AMF0_UNSUPPORTED');
      case AMF0.avmPlus:
        return this.fail('AVM+ (AMF3) value, not supported in FLV script data', at, 'E_AMF0_UNSUPPORTED');
      default:
        return this.fail(`unknown type marker 0x${marker.toString(16)}`, at);
    }
  }
}

export interface AmfDecoded {
  value: AmfValue;
  /** Index just past the value in the input array. */
  end: number;
}

/** Decodes one AMF0 value starting at `start`. */
export function decodeAmf0(data: Uint8Array, start = 0, options: AmfDecodeOptions = {}): AmfDecoded {
  const r = new AmfReader(data, start, options.baseOffset ?? 0, options.maxDepth ?? 64);
  const value = r.value(0);
  return { value, end: r.pos };
}

/** Decodes consecutive AMF0 values until the end of `data` (a script data tag body is such a list). */
export function decodeAmf0All(data: Uint8Array, options: AmfDecodeOptions = {}): AmfValue[] {
  const r = new AmfReader(data, 0, options.baseOffset ?? 0, options.maxDepth ?? 64);
  const out: AmfValue[] = [];
  while (r.pos < data.length) out.push(r.value(0));
  return out;
}

function writeUtf8(w: ByteWriter, s: string, withMarker: boolean): void {
  const b = utf8enc.encode(s);
  if (b.length > 0xffff) {
    // 2.14: strings longer than 65535 bytes need the long-string type; keys cannot be long.
    if (!withMarker) throw new RangeError(`AMF0 property name longer than 65535 bytes`);
    w.u8(AMF0.longString).u32(b.length);
  } else {
    if (withMarker) w.u8(AMF0.string);
    w.u16(b.length);
  }
  w.bytes(b);
}

function writeProperties(w: ByteWriter, obj: AmfObject, depth: number): void {
  for (const key of Object.keys(obj)) {
    writeUtf8(w, key, false);
    writeValue(w, obj[key], depth + 1);
  }
  w.u16(0).u8(AMF0.objectEnd);
}

function writeValue(w: ByteWriter, v: AmfValue, depth: number): void {
  if (depth > 64) throw new RangeError('AMF0: value nested deeper than 64 (a cycle?)');
  if (v === null) w.u8(AMF0.null);
  else if (v === undefined) w.u8(AMF0.undefined);
  else if (typeof v === 'number') w.u8(AMF0.number).f64(v);
  else if (typeof v === 'boolean') w.u8(AMF0.boolean).u8(v ? 1 : 0);
  else if (typeof v === 'string') writeUtf8(w, v, true);
  else if (v instanceof Date) w.u8(AMF0.date).f64(v.getTime()).u16(0);
  else if (Array.isArray(v)) {
    w.u8(AMF0.strictArray).u32(v.length);
    for (const x of v) writeValue(w, x, depth + 1);
  } else if (v instanceof AmfEcmaArray) {
    w.u8(AMF0.ecmaArray).u32(Object.keys(v.entries).length);
    writeProperties(w, v.entries, depth);
  } else {
    w.u8(AMF0.object);
    writeProperties(w, v, depth);
  }
}

/** Encodes values one after the other (e.g. `'onMetaData', ecmaArray({...})` for a script tag body). */
export function encodeAmf0(...values: AmfValue[]): Uint8Array {
  const w = new ByteWriter(256);
  for (const v of values) writeValue(w, v, 0);
  return w.toBytes();
}

/** Narrowing helper: a decoded AMF object (anonymous object, ECMA array or typed object). */
export function isAmfObject(v: AmfValue): v is AmfObject {
  return (
    typeof v === 'object' &&
    v !== null &&
    !Array.isArray(v) &&
    !(v instanceof Date) &&
    !(v instanceof AmfEcmaArray)
  );
}
