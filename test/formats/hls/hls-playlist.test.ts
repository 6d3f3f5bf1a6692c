import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { getOptions } from 'hls-parser';
import { CastkitError, FormatError, UsageError } from '../../../src/core/errors.js';
import {
  liveWindow,
  parseHlsMaster,
  parseHlsMedia,
  parseHlsPlaylist,
  pickAudio,
  pickVariant,
  refreshDelayMs,
  segmentsAfter,
  sequenceIv,
  type HlsSegment,
} from '../../../src/formats/hls/index.js';

const MASTER_URL = 'https://origin.example.com/live/show/master.m3u8?session=42';

const MASTER = `#EXTM3U
#EXT-X-VERSION:6
#EXT-X-INDEPENDENT-SEGMENTS
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="en",NAME="English",DEFAULT=YES,AUTOSELECT=YES,URI="audio/en/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="fr-CA",NAME="Français",DEFAULT=NO,AUTOSELECT=YES,CHANNELS="2",URI="audio/fr/index.m3u8"
#EXT-X-MEDIA:TYPE=AUDIO,GROUP-ID="aac",LANGUAGE="deu",NAME="Deutsch",AUTOSELECT=NO,URI="https://cdn.example.net/de/index.m3u8"
#EXT-X-MEDIA:TYPE=SUBTITLES,GROUP-ID="subs",LANGUAGE="en",NAME="English CC",DEFAULT=NO,FORCED=NO,URI="subs/en.m3u8"
#EXT-X-STREAM-INF:BANDWIDTH=800000,AVERAGE-BANDWIDTH=700000,RESOLUTION=640x360,FRAME-RATE=29.970,CODECS="avc1.4d401e,mp4a.40.2",AUDIO="aac",SUBTITLES="subs"
360p/index.m3u8
# a comment between variants
#EXT-X-STREAM-INF:BANDWIDTH=2500000,RESOLUTION=1280x720,CODECS="avc1.4d401f,mp4a.40.2",AUDIO="aac",SUBTITLES="subs"
720p/index.m3u8

#EXT-X-STREAM-INF:BANDWIDTH=5000000,RESOLUTION=1920x1080,CODECS="avc1.640028,mp4a.40.2",AUDIO="aac",SUBTITLES="subs"
/abs/1080p/index.m3u8?token=a,b
#EXT-X-STREAM-INF:BANDWIDTH=64000,CODECS="mp4a.40.2",AUDIO="aac"
audio-only.m3u8
#EXT-X-I-FRAME-STREAM-INF:BANDWIDTH=100000,URI="iframes.m3u8"
#EXT-X-SOMETHING-NEW:whatever=1
`;

const MEDIA_URL = 'https://origin.example.com/vod/movie/index.m3u8';

/** BYTERANGE with implicit offsets, two keys rotated (without and with IV), MAP, discontinuity, PDT, GAP. */
const MEDIA = `#EXTM3U
#EXT-X-VERSION:7
#EXT-X-TARGETDURATION:6
#EXT-X-MEDIA-SEQUENCE:100
#EXT-X-DISCONTINUITY-SEQUENCE:3
#EXT-X-PLAYLIST-TYPE:VOD
#EXT-X-MAP:URI="init.mp4",BYTERANGE="720@0"
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T12:00:00.000Z
#EXT-X-KEY:METHOD=AES-128,URI="keys/k1.bin"
#EXTINF:6.000,first
#EXT-X-BYTERANGE:1000@720
media.mp4
#EXTINF:6.000,
#EXT-X-BYTERANGE:1200
media.mp4
#EXT-X-KEY:METHOD=AES-128,URI="keys/k2.bin",IV=0x000102030405060708090A0B0C0D0E0F
#EXTINF:5.5,
#EXT-X-BYTERANGE:800
media.mp4
#EXT-X-DISCONTINUITY
#EXT-X-MAP:URI="init2.mp4"
#EXT-X-KEY:METHOD=NONE
#EXT-X-PROGRAM-DATE-TIME:2024-05-01T13:00:00+02:00
#EXTINF:4,
seg-a.m4s
#EXT-X-UNKNOWN-TAG:ignored
#EXTINF:4,日本語 é
seg-b.m4s
#EXT-X-KEY:METHOD=AES-128,URI="keys/k3.bin"
#EXT-X-KEY:METHOD=SAMPLE-AES,URI="skd://fairplay-key",KEYFORMAT="com.apple.streamingkeydelivery",KEYFORMATVERSIONS="1"
#EXT-X-GAP
#EXTINF:4,
seg-c.m4s
#EXT-X-ENDLIST
`;

function live(first: number, count: number, extra = ''): string {
  const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', `#EXT-X-MEDIA-SEQUENCE:${first}`, extra];
  for (let i = first; i < first + count; i++) lines.push('#EXTINF:4.000,', `s${i}.ts`);
  return lines.join('\n');
}

function throwsFormat(fn: () => unknown, pattern: RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected a FormatError, got ${String(err)}`);
    assert.match(err.message, pattern);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

const hex = (b: Uint8Array | undefined): string => Buffer.from(b ?? []).toString('hex');

describe('HLS master playlist', () => {
  const master = parseHlsMaster(MASTER, MASTER_URL);

  it('reads variants with absolute URIs, groups and attributes; leaves I-frame variants out', () => {
    assert.equal(master.kind, 'master');
    assert.equal(master.variants.length, 4);
    const [v360, v720, v1080, audio] = master.variants;
    assert.deepEqual(v360, {
      bandwidth: 800000,
      averageBandwidth: 700000,
      resolution: { width: 640, height: 360 },
      frameRate: 29.97,
      codecs: 'avc1.4d401e,mp4a.40.2',
      uri: 'https://origin.example.com/live/show/360p/index.m3u8',
      audioGroup: 'aac',
      subtitlesGroup: 'subs',
      audioOnly: false,
      line: 8,
    });
    assert.equal(v720?.uri, 'https://origin.example.com/live/show/720p/index.m3u8');
    assert.equal(v1080?.uri, 'https://origin.example.com/abs/1080p/index.m3u8?token=a,b');
    assert.equal(audio?.audioOnly, true);
    assert.equal(audio?.subtitlesGroup, undefined);
    assert.deepEqual(master.unsafeUris, []);
  });

  it('reads alternate audio and subtitles renditions once each', () => {
    const r = master.renditions;
    assert.deepEqual(
      r.map((x) => [x.type, x.groupId, x.language, x.name, x.default, x.autoselect]),
      [
        ['AUDIO', 'aac', 'en', 'English', true, true],
        ['AUDIO', 'aac', 'fr-CA', 'Français', false, true],
        ['AUDIO', 'aac', 'deu', 'Deutsch', false, false],
        ['SUBTITLES', 'subs', 'en', 'English CC', false, false],
      ],
    );
    assert.equal(r[0]?.uri, 'https://origin.example.com/live/show/audio/en/index.m3u8');
    assert.equal(r[1]?.channels, '2');
    assert.equal(r[2]?.uri, 'https://cdn.example.net/de/index.m3u8');
    assert.equal(r[3]?.uri, 'https://origin.example.com/live/show/subs/en.m3u8');
  });

  it('pickVariant: best, worst, heights (closest below, then above), bandwidth caps', () => {
    const h = (q: Parameters<typeof pickVariant>[1]): number | undefined =>
      pickVariant(master.variants, q).resolution?.height;
    assert.equal(h('best'), 1080);
    assert.equal(h('worst'), 360, 'the audio-only variant is not a video quality');
    assert.equal(h('720p'), 720);
    assert.equal(h('1080p'), 1080);
    assert.equal(h('480p'), 360, 'closest below');
    assert.equal(h('2160p'), 1080, 'closest below');
    assert.equal(h('240p'), 360, 'nothing below: closest above');
    assert.equal(h(3_000_000), 720, 'highest bandwidth not above the cap');
    assert.equal(h(10), 360, 'cap below everything: the lowest');
    assert.throws(() => pickVariant(master.variants, 'medium' as never), UsageError);
    assert.throws(() => pickVariant([], 'best'), UsageError);
  });

  it('pickVariant: equal bandwidths are broken by resolution; height needs resolutions', () => {
    const base = { audioOnly: false, line: 1, uri: 'https://x/' };
    const vs = [
      { ...base, bandwidth: 1000, resolution: { width: 640, height: 360 } },
      { ...base, bandwidth: 1000, resolution: { width: 1280, height: 720 } },
      { ...base, bandwidth: 900, resolution: { width: 1280, height: 720 } },
    ];
    assert.equal(pickVariant(vs, 'best').resolution?.height, 720);
    assert.equal(pickVariant(vs, 'best').bandwidth, 1000);
    assert.equal(pickVariant(vs, '720p').bandwidth, 1000, 'the best of the chosen height');
    assert.throws(
      () => pickVariant([{ ...base, bandwidth: 1 }], '720p'),
      (e: unknown) => e instanceof UsageError && /none declares a resolution/.test(e.message),
    );
  });

  it('pickAudio: DEFAULT without a language; language by tag, primary subtag or ISO 639 alias', () => {
    const r = master.renditions;
    assert.equal(pickAudio(r, 'aac')?.name, 'English');
    assert.equal(pickAudio(r, 'aac', 'en')?.name, 'English');
    assert.equal(pickAudio(r, 'aac', 'FR')?.name, 'Français', 'primary subtag, any case');
    assert.equal(pickAudio(r, 'aac', 'fr-CA')?.name, 'Français');
    assert.equal(pickAudio(r, 'aac', 'ger')?.name, 'Deutsch', 'ISO 639-2/B alias of deu');
    assert.equal(pickAudio(r, 'aac', 'Deutsch')?.name, 'Deutsch', 'by NAME as a last resort');
    assert.equal(pickAudio(r, 'none-such-group'), undefined, 'audio muxed in the variant');
  });

  it('pickAudio: a missing language is a UsageError listing the available ones', () => {
    assert.throws(
      () => pickAudio(master.renditions, 'aac', 'ja'),
      (e: unknown) => {
        assert.ok(e instanceof UsageError);
        assert.equal(e.code, 'E_NO_SUCH_AUDIO');
        assert.match(e.message, /no audio in language "ja" in audio group "aac"; available: en, fr-CA, deu/);
        return true;
      },
    );
  });

  it('parseHlsMedia refuses a master playlist, and the reverse', () => {
    throwsFormat(() => parseHlsMedia(MASTER, MASTER_URL), /is a master playlist/, 'E_HLS_KIND');
    throwsFormat(() => parseHlsMaster(MEDIA, MEDIA_URL), /is a media playlist/, 'E_HLS_KIND');
  });
});

describe('HLS media playlist', () => {
  const media = parseHlsMedia(MEDIA, MEDIA_URL);
  const s = media.segments;

  it('reads the playlist tags', () => {
    assert.equal(media.targetDuration, 6);
    assert.equal(media.mediaSequence, 100);
    assert.equal(media.discontinuitySequence, 3);
    assert.equal(media.endList, true);
    assert.equal(media.playlistType, 'VOD');
    assert.equal(media.live, false);
    assert.equal(s.length, 6);
    assert.equal(media.duration, 29.5);
    assert.deepEqual(
      s.map((x) => x.start),
      [0, 6, 12, 17.5, 21.5, 25.5],
    );
  });

  it('numbers segments by media and discontinuity sequence, with stable keys', () => {
    assert.deepEqual(
      s.map((x) => [x.mediaSequence, x.discontinuitySequence, x.discontinuity, x.key]),
      [
        [100, 3, false, 'd3:m100'],
        [101, 3, false, 'd3:m101'],
        [102, 3, false, 'd3:m102'],
        [103, 4, true, 'd4:m103'],
        [104, 4, false, 'd4:m104'],
        [105, 4, false, 'd4:m105'],
      ],
    );
  });

  it('resolves URIs and continues implicit BYTERANGE offsets from the previous range', () => {
    assert.equal(s[0]?.uri, 'https://origin.example.com/vod/movie/media.mp4');
    assert.deepEqual(
      s.slice(0, 3).map((x) => x.byteRange),
      [
        { offset: 720, length: 1000 },
        { offset: 1720, length: 1200 },
        { offset: 2920, length: 800 },
      ],
    );
    assert.equal(s[3]?.byteRange, undefined);
    assert.equal(s[3]?.uri, 'https://origin.example.com/vod/movie/seg-a.m4s');
  });

  it('attaches the EXT-X-MAP init section in effect, one object per map', () => {
    assert.deepEqual(s[0]?.init, {
      uri: 'https://origin.example.com/vod/movie/init.mp4',
      byteRange: { offset: 0, length: 720 },
    });
    assert.equal(s[1]?.init, s[0]?.init);
    assert.equal(s[2]?.init, s[0]?.init);
    assert.deepEqual(s[3]?.init, { uri: 'https://origin.example.com/vod/movie/init2.mp4' });
    assert.notEqual(s[3]?.init, s[2]?.init);
    assert.equal(s[5]?.init, s[3]?.init);
  });

  it('attaches the right key to each segment through rotation, with RFC 8216 5.2 IVs', () => {
    assert.equal(s[0]?.encryption?.uri, 'https://origin.example.com/vod/movie/keys/k1.bin');
    assert.equal(s[0]?.encryption?.method, 'AES-128');
    assert.equal(s[0]?.encryption?.ivFromSequence, true);
    assert.equal(hex(s[0]?.encryption?.iv), '00000000000000000000000000000064', 'media sequence 100');
    assert.equal(s[1]?.encryption?.uri, s[0]?.encryption?.uri);
    assert.equal(hex(s[1]?.encryption?.iv), '00000000000000000000000000000065');
    assert.equal(s[2]?.encryption?.uri, 'https://origin.example.com/vod/movie/keys/k2.bin');
    assert.equal(s[2]?.encryption?.ivFromSequence, false);
    assert.equal(hex(s[2]?.encryption?.iv), '000102030405060708090a0b0c0d0e0f');
    assert.equal(s[3]?.encryption, undefined, 'METHOD=NONE');
    assert.equal(s[4]?.encryption, undefined);
    assert.equal(s[5]?.encryption?.uri, 'https://origin.example.com/vod/movie/keys/k3.bin');
    assert.equal(hex(s[5]?.encryption?.iv), '00000000000000000000000000000069');
    assert.deepEqual(s[5]?.drmKeyFormats, ['com.apple.streamingkeydelivery']);
    assert.equal(s[0]?.drmKeyFormats, undefined);
    assert.deepEqual(
      media.unsafeUris.map((u) => [u.uri, u.scheme]),
      [['skd://fairplay-key', 'skd:']],
      'non-http key URIs are reported for the loader',
    );
  });

  it('sequenceIv is the big-endian 128-bit media sequence number', () => {
    assert.equal(hex(sequenceIv(0)), '0'.repeat(32));
    assert.equal(hex(sequenceIv(2 ** 32 + 258)), '00000000000000000000000100000102');
    assert.equal(hex(sequenceIv(Number.MAX_SAFE_INTEGER)), '0000000000000000001fffffffffffff');
  });

  it('reads EXT-X-PROGRAM-DATE-TIME (with zones) and carries it forward within a discontinuity', () => {
    const t0 = Date.UTC(2024, 4, 1, 12, 0, 0);
    assert.equal(s[0]?.programDateTime, t0);
    assert.equal(s[0]?.programDateTimeExtrapolated, undefined);
    assert.equal(s[1]?.programDateTime, t0 + 6000);
    assert.equal(s[1]?.programDateTimeExtrapolated, true);
    assert.equal(s[2]?.programDateTime, t0 + 12000);
    assert.equal(s[3]?.programDateTime, Date.UTC(2024, 4, 1, 11, 0, 0), '13:00+02:00');
    assert.equal(s[4]?.programDateTime, Date.UTC(2024, 4, 1, 11, 0, 4));
  });

  it('keeps titles (any script), flags EXT-X-GAP, records lines', () => {
    assert.equal(s[0]?.title, 'first');
    assert.equal(s[4]?.title, '日本語 é');
    assert.deepEqual(
      s.map((x) => x.gap),
      [false, false, false, false, false, true],
    );
    assert.deepEqual(
      s.map((x) => x.line),
      [12, 15, 19, 25, 28, 33],
    );
  });

  it('VOD: the live window is everything and there is no reload', () => {
    assert.equal(liveWindow(media).segments.length, 6);
    assert.equal(refreshDelayMs(media, true), undefined);
  });

  it('accepts CRLF line endings and a byte order mark', () => {
    const p = parseHlsMedia(`\ufeff${MEDIA.replaceAll('\n', '\r\n')}`, MEDIA_URL);
    assert.deepEqual(
      p.segments.map((x) => x.key),
      s.map((x) => x.key),
    );
    assert.equal(p.segments[4]?.title, '日本語 é');
  });
});

describe('HLS live playlists', () => {
  const url = 'http://origin.test/live/index.m3u8';

  it('is live without ENDLIST; the live window is the last three target durations', () => {
    const p = parseHlsMedia(live(2000, 8), url);
    assert.equal(p.live, true);
    assert.equal(p.endList, false);
    const w = liveWindow(p);
    assert.deepEqual(
      w.segments.map((x) => x.mediaSequence),
      [2005, 2006, 2007],
    );
    assert.equal(w.skipped, 5);
    assert.equal(liveWindow(p, { fromStart: true }).segments.length, 8, 'from the start of the DVR window');
    assert.deepEqual(
      liveWindow(p, { holdBack: 8 }).segments.map((x) => x.mediaSequence),
      [2006, 2007],
    );
    assert.equal(liveWindow(parseHlsMedia(live(0, 2), url)).segments.length, 2, 'shorter than the hold-back');
  });

  it('uses EXT-X-SERVER-CONTROL HOLD-BACK when the server gives one', () => {
    const p = parseHlsMedia(live(10, 10, '#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,HOLD-BACK=20.0'), url);
    assert.equal(p.holdBack, 20);
    assert.deepEqual(
      liveWindow(p).segments.map((x) => x.mediaSequence),
      [15, 16, 17, 18, 19],
    );
  });

  it('EVENT playlists are live until ENDLIST', () => {
    assert.equal(parseHlsMedia(live(0, 3, '#EXT-X-PLAYLIST-TYPE:EVENT'), url).live, true);
    assert.equal(
      parseHlsMedia(`${live(0, 3, '#EXT-X-PLAYLIST-TYPE:EVENT')}\n#EXT-X-ENDLIST`, url).live,
      false,
    );
  });

  it('a sliding window keeps keys stable; segmentsAfter finds new segments and counts missed ones', () => {
    const p1 = parseHlsMedia(live(2000, 8), url);
    const p2 = parseHlsMedia(live(2003, 8), url);
    const byMsn = (p: typeof p1, n: number): HlsSegment | undefined =>
      p.segments.find((x) => x.mediaSequence === n);
    assert.equal(byMsn(p1, 2005)?.key, byMsn(p2, 2005)?.key);
    assert.equal(byMsn(p2, 2005)?.uri, 'http://origin.test/live/s2005.ts');
    const next = segmentsAfter(p2, 2007);
    assert.deepEqual(
      next.segments.map((x) => x.mediaSequence),
      [2008, 2009, 2010],
    );
    assert.equal(next.missed, 0);
    const late = segmentsAfter(parseHlsMedia(live(2012, 4), url), 2007);
    assert.equal(late.missed, 4, '2008..2011 slid out before the reload');
    assert.equal(segmentsAfter(p2, 2010).segments.length, 0);
  });

  it('keys stay the same when a discontinuity slides out and DISCONTINUITY-SEQUENCE goes up', () => {
    const a = parseHlsMedia(
      `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:10\n#EXTINF:2,\na.ts\n#EXT-X-DISCONTINUITY\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts`,
      url,
    );
    // a.ts slides out: the DISCONTINUITY tag stays with b.ts, the sequence stays 0.
    const b = parseHlsMedia(
      `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:11\n#EXT-X-DISCONTINUITY\n#EXTINF:2,\nb.ts\n#EXTINF:2,\nc.ts\n#EXTINF:2,\nd.ts`,
      url,
    );
    // b.ts slides out with its DISCONTINUITY tag: RFC 8216 6.2.2 makes the server count it in the sequence.
    const c = parseHlsMedia(
      `#EXTM3U\n#EXT-X-TARGETDURATION:2\n#EXT-X-MEDIA-SEQUENCE:12\n#EXT-X-DISCONTINUITY-SEQUENCE:1\n#EXTINF:2,\nc.ts\n#EXTINF:2,\nd.ts\n#EXTINF:2,\ne.ts`,
      url,
    );
    assert.deepEqual(
      a.segments.map((x) => x.key),
      ['d0:m10', 'd1:m11', 'd1:m12'],
    );
    assert.deepEqual(
      b.segments.map((x) => x.key),
      ['d1:m11', 'd1:m12', 'd1:m13'],
    );
    assert.deepEqual(
      c.segments.map((x) => x.key),
      ['d1:m12', 'd1:m13', 'd1:m14'],
    );
    assert.equal(c.discontinuitySequence, 1);
  });

  it('refreshDelayMs: the target duration after a change, half of it when unchanged (RFC 8216 6.3.4)', () => {
    const p = parseHlsMedia(live(0, 3), url);
    assert.equal(refreshDelayMs(p, true), 4000);
    assert.equal(refreshDelayMs(p, false), 2000);
  });

  it('drops segment tags after the last URI (a playlist cut mid-write)', () => {
    const p = parseHlsMedia(
      `${live(0, 2)}\n#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z\n#EXTINF:4.0,`,
      url,
    );
    assert.equal(p.segments.length, 2);
  });
});

describe('HLS variables (EXT-X-DEFINE)', () => {
  it('substitutes NAME/VALUE, QUERYPARAM and IMPORT in URIs and quoted attributes', () => {
    const master = parseHlsMaster(
      '#EXTM3U\n#EXT-X-DEFINE:NAME="cdn",VALUE="https://cdn.example.com"\n#EXT-X-STREAM-INF:BANDWIDTH=1\n{$cdn}/v.m3u8',
      'https://origin.example.com/m.m3u8',
    );
    assert.equal(master.variants[0]?.uri, 'https://cdn.example.com/v.m3u8');
    assert.deepEqual(master.defines, { cdn: 'https://cdn.example.com' });
    const media = parseHlsMedia(
      [
        '#EXTM3U',
        '#EXT-X-VERSION:11',
        '#EXT-X-DEFINE:IMPORT="cdn"',
        '#EXT-X-DEFINE:QUERYPARAM="token"',
        '#EXT-X-TARGETDURATION:2',
        '#EXT-X-MAP:URI="{$cdn}/init.mp4?t={$token}"',
        '#EXTINF:2,',
        '{$cdn}/seg1.m4s?t={$token}',
      ].join('\n'),
      'https://cdn.example.com/v.m3u8?token=abc',
      { imports: master.defines },
    );
    assert.equal(media.segments[0]?.uri, 'https://cdn.example.com/seg1.m4s?t=abc');
    assert.equal(media.segments[0]?.init?.uri, 'https://cdn.example.com/init.mp4?t=abc');
  });

  it('an undefined variable is an error naming the line', () => {
    throwsFormat(
      () =>
        parseHlsMedia(
          '#EXTM3U\n#EXT-X-DEFINE:NAME="a",VALUE="1"\n#EXT-X-TARGETDURATION:2\n#EXTINF:2,\n{$b}.ts',
          MEDIA_URL,
        ),
      /line 5: variable \{\$b\} is not defined/,
    );
    throwsFormat(
      () => parseHlsMedia('#EXTM3U\n#EXT-X-DEFINE:IMPORT="x"\n#EXT-X-TARGETDURATION:2', MEDIA_URL),
      /line 2: .*IMPORT "x"/,
    );
  });
});

describe('HLS hostile and malformed playlists', () => {
  const ok = (body: string): string => `#EXTM3U\n#EXT-X-TARGETDURATION:4\n${body}`;

  it('garbage, binary and empty input are FormatErrors', () => {
    throwsFormat(
      () => parseHlsPlaylist('hello world\nthis is not a playlist', MEDIA_URL),
      /line 1: not an HLS playlist/,
    );
    let seed = 7;
    const bytes = Array.from({ length: 4096 }, () =>
      String.fromCharCode((seed = (seed * 1103515245 + 12345) & 0xff)),
    );
    throwsFormat(() => parseHlsPlaylist(bytes.join(''), MEDIA_URL), /not an HLS playlist/);
    throwsFormat(() => parseHlsPlaylist('', MEDIA_URL), /empty/);
    throwsFormat(() => parseHlsPlaylist('#EXTM3U\n', MEDIA_URL), /neither a master playlist/);
    throwsFormat(
      () => parseHlsPlaylist(`#EXTM3U\n${'\u0000'.repeat(100)}`, MEDIA_URL),
      /not preceded by #EXTINF/,
    );
  });

  it('a malformed tag is a FormatError naming its line', () => {
    const cases: [string, RegExp][] = [
      [ok('#EXTINF:abc,\na.ts'), /line 3: EXTINF duration "abc" is not a number/],
      [ok('#EXTINF:-4,\na.ts'), /line 3: EXTINF duration -4 is below 0/],
      [ok('#EXTINF:4,\n#EXT-X-BYTERANGE:12@x\na.ts'), /line 4: EXT-X-BYTERANGE offset "x"/],
      [ok('#EXT-X-KEY:METHOD=AES-128\n#EXTINF:4,\na.ts'), /line 3: EXT-X-KEY has no URI attribute/],
      [ok('#EXT-X-KEY:METHOD=AES-128,URI="k",IV=0xZZ\n#EXTINF:4,\na.ts'), /line 3: EXT-X-KEY IV "0xZZ"/],
      [
        ok('#EXT-X-KEY:METHOD=AES-128,URI="k\n#EXTINF:4,\na.ts'),
        /line 3: EXT-X-KEY: attribute URI has an unterminated/,
      ],
      [ok('#EXT-X-MAP:BYTERANGE="1@0"\n#EXTINF:4,\na.ts'), /line 3: EXT-X-MAP has no URI/],
      [
        ok('#EXT-X-PROGRAM-DATE-TIME:yesterday\n#EXTINF:4,\na.ts'),
        /line 3: EXT-X-PROGRAM-DATE-TIME "yesterday"/,
      ],
      [
        ok('#EXTINF:4,\n#EXT-X-BYTERANGE:100\na.ts'),
        /line 4: EXT-X-BYTERANGE has no offset, but the previous segment/,
      ],
      [
        ok('#EXTINF:4,\n#EXT-X-BYTERANGE:100@0\na.ts\n#EXTINF:4,\n#EXT-X-BYTERANGE:100\nb.ts'),
        /line 7: EXT-X-BYTERANGE has no offset/,
      ],
      [
        ok('#EXTINF:4,\na.ts\n#EXT-X-MEDIA-SEQUENCE:3'),
        /line 5: EXT-X-MEDIA-SEQUENCE must appear before the first segment/,
      ],
      [
        ok('#EXT-X-MEDIA-SEQUENCE:99999999999999999999'),
        /line 3: EXT-X-MEDIA-SEQUENCE 99999999999999999999 is too large/,
      ],
      [ok('#EXT-X-PLAYLIST-TYPE:LIVE'), /line 3: EXT-X-PLAYLIST-TYPE "LIVE"/],
      [ok('a.ts'), /line 3: URI "a.ts" is not preceded by #EXTINF/],
      ['#EXTM3U\n#EXT-X-TARGETDURATION:0', /line 2: EXT-X-TARGETDURATION 0 is not a plausible/],
      ['#EXTM3U\n#EXTINF:4,\na.ts', /line 2: media playlist without EXT-X-TARGETDURATION/],
      [ok('#EXT-X-TARGETDURATION:4'), /line 3: EXT-X-TARGETDURATION appears twice/],
      [ok('#EXTINF:1e300,\na.ts'), /line 3: EXTINF duration 1e300 is implausible/],
      ['#EXTM3U\n#EXT-X-STREAM-INF:RESOLUTION=1x1\nv.m3u8', /line 2: EXT-X-STREAM-INF has no BANDWIDTH/],
      ['#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,RESOLUTION=big\nv.m3u8', /line 2: RESOLUTION "big"/],
      [
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\n#EXT-X-STREAM-INF:BANDWIDTH=2\nv.m3u8',
        /line 2: EXT-X-STREAM-INF is not followed by a URI/,
      ],
      ['#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1', /line 2: EXT-X-STREAM-INF is not followed by a URI/],
      [
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1,AUDIO="x"\nv.m3u8',
        /line 2: .*AUDIO group "x", which no EXT-X-MEDIA/,
      ],
      ['#EXTM3U\n#EXT-X-MEDIA:TYPE=MUSIC,GROUP-ID="a",NAME="b"', /line 2: EXT-X-MEDIA TYPE "MUSIC"/],
      [
        '#EXTM3U\n#EXT-X-STREAM-INF:BANDWIDTH=1\nv.m3u8\n#EXTINF:4,\na.ts',
        /line 4: EXTINF is a media playlist tag, but line 2 made this a master/,
      ],
      [ok('#EXT-X-SKIP:SKIPPED-SEGMENTS=3'), /line 3: EXT-X-SKIP/],
    ];
    for (const [text, pattern] of cases) throwsFormat(() => parseHlsPlaylist(text, MEDIA_URL), pattern);
  });

  it('unknown tags and comments are ignored', () => {
    const p = parseHlsMedia(
      ok('#EXT-X-FUTURE-TAG:A=1\n#EXTFOO\n# comment\n#EXTINF:4,\n#EXT-X-CUE-OUT:30\na.ts'),
      MEDIA_URL,
    );
    assert.equal(p.segments.length, 1);
  });

  it('reports file:, data: and other non-http URIs for the loader to refuse', () => {
    const p = parseHlsMedia(
      ok(
        [
          '#EXT-X-MAP:URI="file:///etc/passwd"',
          '#EXT-X-KEY:METHOD=AES-128,URI="data:application/octet-stream;base64,AAAAAAAAAAAAAAAAAAAAAA=="',
          '#EXTINF:4,',
          'file:///home/user/.ssh/id_rsa',
          '#EXTINF:4,',
          'ftp://example.com/a.ts',
          '#EXTINF:4,',
          'ok.ts',
        ].join('\n'),
      ),
      MEDIA_URL,
    );
    assert.deepEqual(
      p.unsafeUris.map((u) => [u.scheme, u.where]),
      [
        ['file:', 'line 3 (EXT-X-MAP)'],
        ['data:', 'line 4 (EXT-X-KEY)'],
        ['file:', 'line 6 (segment URI)'],
        ['ftp:', 'line 8 (segment URI)'],
      ],
    );
    assert.equal(p.segments[0]?.uri, 'file:///home/user/.ssh/id_rsa', 'resolved, not judged');
    assert.equal(p.segments[2]?.uri, 'https://origin.example.com/vod/movie/ok.ts');
  });

  it('relative URIs never escape to another scheme; a bad base URL is a UsageError', () => {
    const p = parseHlsMedia(
      ok('#EXTINF:4,\n../../../../etc/passwd\n#EXTINF:4,\n//evil.example/x.ts'),
      MEDIA_URL,
    );
    assert.equal(p.segments[0]?.uri, 'https://origin.example.com/etc/passwd');
    assert.equal(p.segments[1]?.uri, 'https://evil.example/x.ts');
    assert.deepEqual(p.unsafeUris, []);
    assert.throws(() => parseHlsMedia(ok(''), 'index.m3u8'), UsageError);
  });

  it('bounds segment counts, variants, line length and total size', () => {
    const many = live(0, 11);
    throwsFormat(
      () => parseHlsMedia(many, MEDIA_URL, { maxSegments: 10 }),
      /line 26: more than 10 segments/,
      'E_HLS_LIMIT',
    );
    assert.equal(parseHlsMedia(many, MEDIA_URL, { maxSegments: 11 }).segments.length, 11);
    const variants = [
      '#EXTM3U',
      ...Array.from({ length: 6 }, (_, i) => `#EXT-X-STREAM-INF:BANDWIDTH=${i + 1}\nv${i}.m3u8`),
    ];
    throwsFormat(
      () => parseHlsMaster(variants.join('\n'), MASTER_URL, { maxVariants: 5 }),
      /more than 5 variants/,
    );
    throwsFormat(
      () => parseHlsMedia(ok(`#EXTINF:4,\n${'a'.repeat(70_000)}.ts`), MEDIA_URL),
      /line 4: line is 70003 characters/,
    );
    throwsFormat(() => parseHlsMedia(ok(''), MEDIA_URL, { maxChars: 10 }), /characters long \(limit 10\)/);
    // Variable expansion cannot be used to build a huge line.
    const bomb = [
      '#EXTM3U',
      `#EXT-X-DEFINE:NAME="x",VALUE="${'x'.repeat(60_000)}"`,
      '#EXT-X-TARGETDURATION:4',
      '#EXTINF:4,',
      '{$x}{$x}',
    ];
    throwsFormat(
      () => parseHlsMedia(bomb.join('\n'), MEDIA_URL),
      /line 5: line is 120000 characters after variable/,
    );
  });

  it('refuses a million-and-one segments with the default limit, quickly and with the line', () => {
    const lines = ['#EXTM3U', '#EXT-X-TARGETDURATION:1'];
    for (let i = 0; i <= 1_000_000; i++) lines.push('#EXTINF:1,', 's.ts');
    throwsFormat(
      () => parseHlsMedia(lines.join('\n'), MEDIA_URL),
      /line 2000004: more than 1000000 segments/,
    );
  });

  it('keeps hls-parser quiet and leaves its global options as they were', () => {
    const before = getOptions();
    const errors: unknown[] = [];
    const original = console.error;
    console.error = (...args: unknown[]) => errors.push(args);
    try {
      // EXTINF above the target duration and a missing EXT-X-VERSION: hls-parser would log both.
      parseHlsMedia(
        '#EXTM3U\n#EXT-X-TARGETDURATION:1\n#EXTINF:9.5,\na.ts\n#EXT-X-MAP:URI="i.mp4"\n#EXTINF:1,\nb.ts',
        MEDIA_URL,
      );
    } finally {
      console.error = original;
    }
    assert.deepEqual(errors, []);
    assert.deepEqual(getOptions(), before);
  });

  it('errors carry the input category and no internal errors escape on fuzzed playlists', () => {
    const tags = [
      '#EXTINF:4,',
      '#EXT-X-BYTERANGE:10',
      '#EXT-X-BYTERANGE:10@5',
      '#EXT-X-DISCONTINUITY',
      '#EXT-X-KEY:METHOD=AES-128,URI="k"',
      '#EXT-X-KEY:METHOD=NONE',
      '#EXT-X-MAP:URI="i"',
      '#EXT-X-GAP',
      'a.ts',
      'b.ts',
      '#EXT-X-ENDLIST',
      '#EXT-X-MEDIA-SEQUENCE:5',
      '#EXT-X-STREAM-INF:BANDWIDTH=1',
      '#EXT-X-PROGRAM-DATE-TIME:2024-01-01T00:00:00Z',
      '#EXT-X-PART:DURATION=1,URI="p"',
      '#EXT-X-DISCONTINUITY-SEQUENCE:2',
    ];
    let seed = 1;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    for (let round = 0; round < 2000; round++) {
      const body = Array.from({ length: 1 + rand(12) }, () => tags[rand(tags.length)] as string);
      const text = ['#EXTM3U', '#EXT-X-TARGETDURATION:4', ...body].join('\n');
      try {
        parseHlsPlaylist(text, MEDIA_URL);
      } catch (err) {
        assert.ok(err instanceof CastkitError && err.category === 'input', `${text}\n=> ${String(err)}`);
      }
    }
  });
});
