/**
 * From a ustream / IBM Video Streaming page URL to ids (shared/specs/ustream-ums.md section 1): the URL
 * shapes that carry a channel or a video id, the hosts that are ustream's, and the
 * `<meta name="ustream:channel_id">` tag of a channel page (whose URL may only carry a slug).
 */

/** What a UMS session is opened for: a recorded video, or a channel's live broadcast. */
export type UmsApplication = 'recorded' | 'channel';

export interface UstreamUrlIds {
  /** Decimal channel id, when the URL says it. */
  channelId?: string;
  /** Decimal video id, when the URL names a recorded video. */
  videoId?: string;
}

const HOSTS = ['ustream.tv', 'video.ibm.com'];

/** A ustream.tv (any subdomain) or video.ibm.com page URL. */
export function isUstreamUrl(url: string): boolean {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    return false;
  }
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return false;
  const host = u.hostname.toLowerCase();
  return HOSTS.some((h) => host === h || host.endsWith(`.${h}`));
}

/**
 * The ids a URL path carries: `/channel/id/N`, `/channel/N`, `/embed/N` (channel), `/recorded/N`,
 * `/embed/recorded/N` (video), `/combined-embed/C/video/V` (both). A channel slug (`/channel/name`) gives
 * nothing: its id is in the page.
 */
export function idsFromUrl(url: string): UstreamUrlIds {
  let path: string;
  try {
    path = new URL(url).pathname;
  } catch {
    return {};
  }
  const parts = path.split('/').filter((p) => p !== '');
  const num = (s: string | undefined): string | undefined =>
    s !== undefined && /^\d+$/.test(s) ? s : undefined;
  const out: UstreamUrlIds = {};
  for (let i = 0; i < parts.length; i++) {
    const p = parts[i]?.toLowerCase();
    const next = parts[i + 1];
    if (p === 'combined-embed') {
      const c = num(next);
      if (c) out.channelId = c;
      if (parts[i + 2]?.toLowerCase() === 'video') {
        const v = num(parts[i + 3]);
        if (v) out.videoId = v;
      }
      return out;
    }
    if (p === 'recorded') {
      const v = num(next);
      if (v) out.videoId = v;
      return out;
    }
    if (p === 'channel') {
      const c = next?.toLowerCase() === 'id' ? num(parts[i + 2]) : num(next);
      if (c) out.channelId = c;
      return out;
    }
    if (p === 'embed') {
      if (next?.toLowerCase() === 'recorded') continue; // /embed/recorded/N: the next round sees it
      const c = num(next);
      if (c) out.channelId = c;
      return out;
    }
  }
  return out;
}

/** The content of `<meta name="ustream:channel_id" content="...">` (attributes in any order, any quotes). */
export function channelIdFromPage(html: string): string | undefined {
  for (const m of html.matchAll(/<meta\b[^>]*>/gi)) {
    const attrs = attributes(m[0]);
    if ((attrs.name ?? attrs.property)?.toLowerCase() !== 'ustream:channel_id') continue;
    const id = attrs.content?.trim();
    if (id && /^\d+$/.test(id)) return id;
  }
  return undefined;
}

function attributes(tag: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const m of tag.matchAll(/([\w:-]+)\s*=\s*("([^"]*)"|'([^']*)'|([^\s"'>]+))/g)) {
    const name = m[1]?.toLowerCase();
    if (name) out[name] = decodeEntities(m[3] ?? m[4] ?? m[5] ?? '');
  }
  return out;
}

function decodeEntities(s: string): string {
  return s
    .replace(/&quot;/g, '"')
    .replace(/&#39;|&apos;/g, "'")
    .replace(/&lt;/g, '<')
    .replace(/&gt;/g, '>')
    .replace(/&amp;/g, '&');
}

/** A random decimal string of `n` digits with no leading 0 (the `r{random}` of a UMS host name). */
export function randomDigits(n: number, random: () => number = Math.random): string {
  let s = String(1 + Math.floor(random() * 9));
  while (s.length < n) s += String(Math.floor(random() * 10));
  return s;
}
