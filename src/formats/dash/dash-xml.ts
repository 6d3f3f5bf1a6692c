/**
 * The XML layer under the MPD parser: fast-xml-parser, configured for hostile input, turned into a small
 * typed element tree. A DOCTYPE is refused outright (an MPD never needs one, and it is where entity
 * expansion attacks live); nesting depth and element count are bounded; errors are FormatErrors naming the
 * line and column fast-xml-parser's validator reports.
 */
import { XMLParser } from 'fast-xml-parser';
import { FormatError } from '../../core/errors.js';

export interface XmlElement {
  /** Local name (namespace prefix removed). */
  name: string;
  /** Attributes by local name; a null-prototype object. */
  attrs: Record<string, string>;
  children: XmlElement[];
  /** Concatenated text content, trimmed. */
  text: string;
}

export interface XmlLimits {
  maxChars: number;
  maxDepth: number;
  maxElements: number;
}

function xmlError(message: string, cause?: unknown): FormatError {
  return new FormatError(`MPD: ${message}`, { code: 'E_DASH_XML', offset: 0, cause });
}

type RawNode = Record<string, unknown>;

export function parseXmlTree(text: string, limits: XmlLimits): XmlElement {
  if (text.length > limits.maxChars) {
    throw xmlError(`document is ${text.length} characters long (limit ${limits.maxChars})`);
  }
  const doctype = /<!DOCTYPE|<!ENTITY/i.exec(text);
  if (doctype) {
    const line = text.slice(0, doctype.index).split('\n').length;
    throw xmlError(`line ${line}: a DOCTYPE/ENTITY declaration is not accepted in an MPD (entity expansion)`);
  }
  const parser = new XMLParser({
    ignoreAttributes: false,
    attributeNamePrefix: '',
    removeNSPrefix: true,
    parseTagValue: false,
    parseAttributeValue: false,
    preserveOrder: true,
    trimValues: true,
    processEntities: true,
    htmlEntities: false,
    maxNestedTags: limits.maxDepth,
  });
  let raw: unknown;
  try {
    raw = parser.parse(text, true);
  } catch (err) {
    const msg = err instanceof Error ? err.message : String(err);
    if (/nested tags exceeded/i.test(msg))
      throw xmlError(`elements nested deeper than ${limits.maxDepth}`, err);
    // The validator's messages end in ":line:col".
    const at = /:(\d+):(\d+|undefined)$/.exec(msg);
    const where = at ? `line ${at[1]}${at[2] !== 'undefined' ? `, column ${at[2]}` : ''}: ` : '';
    throw xmlError(`${where}not well-formed XML: ${at ? msg.slice(0, at.index) : msg}`, err);
  }
  let count = 0;
  const convert = (node: RawNode, depth: number): XmlElement | string | undefined => {
    if (++count > limits.maxElements) throw xmlError(`more than ${limits.maxElements} elements`);
    if (depth > limits.maxDepth) throw xmlError(`elements nested deeper than ${limits.maxDepth}`);
    let name: string | undefined;
    for (const k of Object.keys(node)) {
      if (k === '#text') return String(node[k]);
      if (k !== ':@') name = k;
    }
    if (name === undefined || name.startsWith('?')) return undefined; // declaration, processing instruction
    const attrs: Record<string, string> = Object.create(null) as Record<string, string>;
    const rawAttrs = node[':@'];
    if (rawAttrs && typeof rawAttrs === 'object') {
      for (const [k, v] of Object.entries(rawAttrs as Record<string, unknown>)) attrs[k] = String(v);
    }
    const el: XmlElement = { name, attrs, children: [], text: '' };
    const kids = node[name];
    if (Array.isArray(kids)) {
      const texts: string[] = [];
      for (const kid of kids as RawNode[]) {
        const c = convert(kid, depth + 1);
        if (typeof c === 'string') texts.push(c);
        else if (c) el.children.push(c);
      }
      el.text = texts.join('').trim();
    }
    return el;
  };
  const roots = Array.isArray(raw) ? (raw as RawNode[]) : [];
  for (const r of roots) {
    const el = convert(r, 1);
    if (el && typeof el !== 'string') return el;
  }
  throw xmlError('no root element');
}

/** Children of an element with a given local name. */
export function childrenNamed(el: XmlElement, name: string): XmlElement[] {
  return el.children.filter((c) => c.name === name);
}

export function childNamed(el: XmlElement, name: string): XmlElement | undefined {
  return el.children.find((c) => c.name === name);
}
