/**
 * Deep copies of a demuxer's state as plain data: numbers (NaN and Infinity kept), strings, booleans,
 * byte arrays, arrays, Maps, Sets and plain objects of them. Byte arrays are copied to their own memory
 * (a view of a large shared buffer is copied as its own bytes, not with the whole buffer, as structuredClone
 * would). What is copied can be stored with any structured-clone encoding (v8.serialize) and read back.
 */
export type Plain =
  | number
  | string
  | boolean
  | undefined
  | null
  | Uint8Array
  | Plain[]
  | Map<Plain, Plain>
  | Set<Plain>
  | { [key: string]: Plain };

/**
 * A copy of `value`; `special` may copy a value of its own kind (a class instance) and return it, or
 * undefined to let the generic copy go on.
 */
export function plainCopy(value: unknown, special?: (v: object) => Plain | undefined): Plain {
  if (value === null || value === undefined) return value;
  const t = typeof value;
  if (t === 'number' || t === 'string' || t === 'boolean') return value as Plain;
  if (t !== 'object') throw new TypeError(`plainCopy: a ${t} is not plain data`);
  const special1 = special?.(value as object);
  if (special1 !== undefined) return special1;
  if (value instanceof Uint8Array) return Uint8Array.prototype.slice.call(value);
  if (Array.isArray(value)) return value.map((v) => plainCopy(v, special));
  if (value instanceof Map) {
    const m = new Map<Plain, Plain>();
    for (const [k, v] of value) m.set(plainCopy(k, special), plainCopy(v, special));
    return m;
  }
  if (value instanceof Set) return new Set([...value].map((v) => plainCopy(v, special)));
  const proto = Object.getPrototypeOf(value) as unknown;
  if (proto !== Object.prototype && proto !== null)
    throw new TypeError(`plainCopy: a ${(value as object).constructor.name} is not plain data`);
  const out: { [key: string]: Plain } = {};
  for (const [k, v] of Object.entries(value as Record<string, unknown>)) out[k] = plainCopy(v, special);
  return out;
}
