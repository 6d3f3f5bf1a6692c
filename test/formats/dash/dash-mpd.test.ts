import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { CastkitError, FormatError, UsageError } from '../../../src/core/errors.js';
import {
  compileTemplate,
  concatPeriods,
  dashLiveWindow,
  dashRefreshDelayMs,
  fillTemplate,
  parseMpd,
  parseXsDuration,
  pickAudio,
  pickRepresentation,
  representationSegments,
  type DashManifest,
  type DashRepresentation,
} from '../../../src/formats/dash/index.js';

const URL_ = 'https://origin.example.com/vod/movie/manifest.mpd';

const mpd = (attrs: string, body: string): string =>
  `<?xml version="1.0" encoding="UTF-8"?>\n<MPD xmlns="urn:mpeg:dash:schema:mpd:2011" ${attrs}>\n${body}\n</MPD>`;

function rep(m: DashManifest, id: string): DashRepresentation {
  for (const p of m.periods)
    for (const s of p.adaptationSets) for (const r of s.representations) if (r.id === id) return r;
  throw new Error(`no representation ${id}`);
}

function throwsFormat(fn: () => unknown, pattern: RegExp, code?: string): void {
  assert.throws(fn, (err: unknown) => {
    assert.ok(err instanceof FormatError, `expected a FormatError, got ${String(err)}`);
    assert.match(err.message, pattern);
    if (code) assert.equal(err.code, code);
    return true;
  });
}

const NUMBER_MPD = mpd(
  'type="static" mediaPresentationDuration="PT9.5S" minBufferTime="PT2S" profiles="urn:mpeg:dash:profile:isoff-live:2011"',
  `<ProgramInformation><Title>castkit</Title></ProgramInformation>
  <Period id="p0">
    <AdaptationSet contentType="video" mimeType="video/mp4" segmentAlignment="true">
      <SegmentTemplate timescale="90000" duration="180000" startNumber="7"
        initialization="$RepresentationID$/init.mp4" media="$RepresentationID$/seg-$Number%05d$-$Bandwidth$.m4s"/>
      <Representation id="v720" bandwidth="3000000" width="1280" height="720" codecs="avc1.64001f" frameRate="30000/1001"/>
      <Representation id="v360" bandwidth="800000" width="640" height="360" codecs="avc1.4d401e"/>
    </AdaptationSet>
    <AdaptationSet contentType="video" mimeType="video/mp4">
      <EssentialProperty schemeIdUri="http://dashif.org/guidelines/trickmode" value="1"/>
      <SegmentTemplate timescale="1" duration="2" media="trick/$Number$.m4s"/>
      <Representation id="trick" bandwidth="9000000" width="3840" height="2160"/>
    </AdaptationSet>
    <AdaptationSet mimeType="audio/mp4" lang="en">
      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="main"/>
      <SegmentTemplate timescale="48000" duration="96000" media="audio/$RepresentationID$/$Number$.m4s" initialization="audio/$RepresentationID$/init.mp4"/>
      <Representation id="a-en-lo" bandwidth="64000" audioSamplingRate="48000" codecs="mp4a.40.2"/>
      <Representation id="a-en" bandwidth="128000" audioSamplingRate="48000" codecs="mp4a.40.2"/>
    </AdaptationSet>
    <AdaptationSet contentType="audio" mimeType="audio/mp4" lang="fr-FR" label="Français">
      <Role schemeIdUri="urn:mpeg:dash:role:2011" value="dub"/>
      <ContentProtection schemeIdUri="urn:mpeg:dash:mp4protection:2011" value="cenc"/>
      <SegmentTemplate timescale="48000" duration="96000" media="audio/$RepresentationID$/$Number$.m4s"/>
      <Representation id="a-fr" bandwidth="128000"/>
    </AdaptationSet>
    <EventStream schemeIdUri="urn:example:unknown"><Event id="1"/></EventStream>
    <UnknownElement foo="bar"/>
  </Period>`,
);

describe('DASH MPD: SegmentTemplate with $Number$', () => {
  const m = parseMpd(NUMBER_MPD, URL_);

  it('reads the MPD, periods, adaptation sets and representations', () => {
    assert.equal(m.type, 'static');
    assert.equal(m.mediaPresentationDuration, 9.5);
    assert.equal(m.minBufferTime, 2);
    assert.equal(m.periods.length, 1);
    const p = m.periods[0];
    assert.equal(p?.id, 'p0');
    assert.equal(p?.start, 0);
    assert.equal(p?.duration, 9.5);
    assert.deepEqual(
      p?.adaptationSets.map((s) => [s.contentType, s.lang, s.roles, s.trickMode, s.representations.length]),
      [
        ['video', undefined, [], false, 2],
        ['video', undefined, [], true, 1],
        ['audio', 'en', ['main'], false, 2],
        ['audio', 'fr-FR', ['dub'], false, 1],
      ],
    );
    assert.deepEqual(p?.adaptationSets[3]?.contentProtection, ['urn:mpeg:dash:mp4protection:2011']);
    assert.equal(p?.adaptationSets[3]?.label, 'Français');
    const v = rep(m, 'v720');
    assert.equal(v.width, 1280);
    assert.equal(v.height, 720);
    assert.ok(Math.abs((v.frameRate ?? 0) - 29.97) < 0.01);
    assert.equal(v.mimeType, 'video/mp4');
    assert.equal(rep(m, 'a-en').contentType, 'audio');
    assert.equal(rep(m, 'a-en').audioSamplingRate, 48000);
    assert.equal(rep(m, 'a-en').lang, 'en');
  });

  it('expands $Number$ with startNumber, %05d widths, $RepresentationID$ and $Bandwidth$', () => {
    const list = representationSegments(m, rep(m, 'v720'));
    assert.deepEqual(list.init, { uri: 'https://origin.example.com/vod/movie/v720/init.mp4' });
    assert.deepEqual(
      list.segments.map((s) => [s.number, s.uri, s.start, s.duration, s.key]),
      [
        [7, 'https://origin.example.com/vod/movie/v720/seg-00007-3000000.m4s', 0, 2, 'p0/v720/n7'],
        [8, 'https://origin.example.com/vod/movie/v720/seg-00008-3000000.m4s', 2, 2, 'p0/v720/n8'],
        [9, 'https://origin.example.com/vod/movie/v720/seg-00009-3000000.m4s', 4, 2, 'p0/v720/n9'],
        [10, 'https://origin.example.com/vod/movie/v720/seg-00010-3000000.m4s', 6, 2, 'p0/v720/n10'],
        [11, 'https://origin.example.com/vod/movie/v720/seg-00011-3000000.m4s', 8, 1.5, 'p0/v720/n11'],
      ],
    );
    assert.ok(list.segments.every((s) => s.init === list.init && !s.discontinuity));
    assert.equal(list.segments[0]?.time, 0);
    assert.equal(list.segments[1]?.time, 180000);
    assert.equal(list.truncated, false);
    assert.equal(representationSegments(m, rep(m, 'a-en')).segments.length, 5);
  });

  it('pickRepresentation: best, worst, height, bandwidth; trick-mode sets are not candidates', () => {
    const sets = m.periods[0]?.adaptationSets ?? [];
    assert.equal(pickRepresentation(sets, 'video').id, 'v720');
    assert.equal(pickRepresentation(sets, 'video', 'worst').id, 'v360');
    assert.equal(pickRepresentation(sets, 'video', '480p').id, 'v360');
    assert.equal(pickRepresentation(sets, 'video', '2160p').id, 'v720');
    assert.equal(pickRepresentation(sets, 'video', 1_000_000).id, 'v360');
    assert.throws(() => pickRepresentation(sets, 'text'), UsageError);
  });

  it('pickAudio: the main role without a language; by @lang (subtag, alias) or @label; errors list languages', () => {
    const sets = m.periods[0]?.adaptationSets ?? [];
    assert.equal(pickAudio(sets)?.id, 'a-en');
    assert.equal(pickAudio(sets, undefined, 'worst')?.id, 'a-en-lo');
    assert.equal(pickAudio(sets, 'fr')?.id, 'a-fr');
    assert.equal(pickAudio(sets, 'fre')?.id, 'a-fr', 'ISO 639-2/B alias');
    assert.equal(pickAudio(sets, 'eng')?.id, 'a-en');
    assert.equal(pickAudio(sets, 'français')?.id, 'a-fr');
    assert.throws(
      () => pickAudio(sets, 'es'),
      (e: unknown) =>
        e instanceof UsageError && /no audio in language "es"; available: en, fr-FR/.test(e.message),
    );
    assert.equal(pickAudio(sets.filter((s) => s.contentType === 'video')), undefined, 'no audio sets');
  });
});

describe('DASH MPD: SegmentTemplate with SegmentTimeline', () => {
  const TIMELINE = mpd(
    'type="static" mediaPresentationDuration="PT12S"',
    `<Period start="PT0S">
      <AdaptationSet contentType="video">
        <Representation id="tl" bandwidth="1000">
          <SegmentTemplate timescale="1000" presentationTimeOffset="1000" media="t/$Time$-$Number$.m4s" initialization="t/init.mp4">
            <SegmentTimeline>
              <S t="1000" d="2000" r="2"/>
              <S d="1000" r="-1"/>
              <S t="10000" d="1500"/>
              <S d="500" r="-1"/>
            </SegmentTimeline>
          </SegmentTemplate>
        </Representation>
      </AdaptationSet>
    </Period>`,
  );

  it('expands t/d/r, r=-1 up to the next S@t and up to the period end, minus presentationTimeOffset', () => {
    const m = parseMpd(TIMELINE, URL_);
    const list = representationSegments(m, rep(m, 'tl'));
    assert.deepEqual(
      list.segments.map((s) => [s.time, s.number, s.start, s.duration]),
      [
        [1000, 1, 0, 2],
        [3000, 2, 2, 2],
        [5000, 3, 4, 2],
        [7000, 4, 6, 1],
        [8000, 5, 7, 1],
        [9000, 6, 8, 1],
        [10000, 7, 9, 1.5],
        [11500, 8, 10.5, 0.5],
        [12000, 9, 11, 0.5],
        [12500, 10, 11.5, 0.5],
      ],
    );
    assert.equal(list.segments[0]?.uri, 'https://origin.example.com/vod/movie/t/1000-1.m4s');
    assert.equal(list.segments[9]?.key, '@0/tl/t12500');
    assert.deepEqual(list.init, { uri: 'https://origin.example.com/vod/movie/t/init.mp4' });
  });

  it('S@n numbers segments; segments past the end of the period are left out', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT5S"',
        `<Period><AdaptationSet mimeType="video/mp4"><SegmentTemplate media="$Number$.m4s"><SegmentTimeline>
          <S t="0" d="2" r="4" n="100"/></SegmentTimeline></SegmentTemplate>
          <Representation id="r" bandwidth="1"/></AdaptationSet></Period>`,
      ),
      URL_,
    );
    assert.deepEqual(
      representationSegments(m, rep(m, 'r')).segments.map((s) => [s.number, s.start]),
      [
        [100, 0],
        [101, 2],
        [102, 4],
      ],
    );
  });

  it('r=-1 with no next S@t and no period end is a FormatError in a static MPD', () => {
    const m = parseMpd(
      mpd(
        'type="static"',
        `<Period><AdaptationSet><SegmentTemplate media="$Time$"><SegmentTimeline><S d="2" r="-1"/></SegmentTimeline></SegmentTemplate><Representation id="r" bandwidth="1"/></AdaptationSet></Period>`,
      ),
      URL_,
    );
    throwsFormat(
      () => representationSegments(m, rep(m, 'r')),
      /S@r=-1 with no next S@t and no known period end/,
    );
  });
});

describe('DASH MPD: SegmentList, SegmentBase, BaseURL, periods', () => {
  it('SegmentList: SegmentURL media and mediaRange, Initialization sourceURL and range', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT12S"',
        `<Period><AdaptationSet mimeType="video/mp4">
          <Representation id="list" bandwidth="500000">
            <BaseURL>media/file.mp4</BaseURL>
            <SegmentList timescale="1000" duration="4000" startNumber="0">
              <Initialization sourceURL="init.mp4" range="0-999"/>
              <SegmentURL mediaRange="1000-1999"/>
              <SegmentURL media="other.mp4" mediaRange="0-499"/>
              <SegmentURL media="seg3.m4s"/>
            </SegmentList>
          </Representation></AdaptationSet></Period>`,
      ),
      URL_,
    );
    const list = representationSegments(m, rep(m, 'list'));
    assert.deepEqual(list.init, {
      uri: 'https://origin.example.com/vod/movie/media/init.mp4',
      byteRange: { offset: 0, length: 1000 },
    });
    assert.deepEqual(
      list.segments.map((s) => [s.uri, s.byteRange, s.start, s.duration, s.number, s.key]),
      [
        [
          'https://origin.example.com/vod/movie/media/file.mp4',
          { offset: 1000, length: 1000 },
          0,
          4,
          0,
          '@0/list/i0',
        ],
        [
          'https://origin.example.com/vod/movie/media/other.mp4',
          { offset: 0, length: 500 },
          4,
          4,
          1,
          '@0/list/i1',
        ],
        ['https://origin.example.com/vod/movie/media/seg3.m4s', undefined, 8, 4, 2, '@0/list/i2'],
      ],
    );
  });

  it('SegmentBase: the init range and the index range to fetch (segments come from the sidx)', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT10S"',
        `<Period><AdaptationSet mimeType="audio/mp4" lang="en">
          <Representation id="sb" bandwidth="1"><BaseURL>https://media.example.com/a.mp4</BaseURL>
            <SegmentBase indexRange="800-899" timescale="1000"><Initialization range="0-799"/></SegmentBase>
          </Representation>
          <Representation id="sb2" bandwidth="1"><BaseURL>b.mp4</BaseURL><SegmentBase indexRange="1200-1299"/></Representation>
          <Representation id="whole" bandwidth="1"><BaseURL>c.vtt</BaseURL></Representation>
        </AdaptationSet></Period>`,
      ),
      URL_,
    );
    const list = representationSegments(m, rep(m, 'sb'));
    assert.deepEqual(list.init, {
      uri: 'https://media.example.com/a.mp4',
      byteRange: { offset: 0, length: 800 },
    });
    assert.deepEqual(list.index, {
      uri: 'https://media.example.com/a.mp4',
      byteRange: { offset: 800, length: 100 },
    });
    assert.deepEqual(list.segments, []);
    assert.deepEqual(representationSegments(m, rep(m, 'sb2')).init, {
      uri: 'https://origin.example.com/vod/movie/b.mp4',
      byteRange: { offset: 0, length: 1200 },
    });
    const whole = representationSegments(m, rep(m, 'whole'));
    assert.deepEqual(
      whole.segments.map((s) => [s.uri, s.start, s.duration]),
      [['https://origin.example.com/vod/movie/c.vtt', 0, 10]],
    );
  });

  it('resolves BaseURL at MPD, Period, AdaptationSet and Representation level, relative and absolute', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT4S"',
        `<BaseURL>https://cdn1.example.com/root/</BaseURL>
        <Period id="a"><BaseURL>period1/</BaseURL>
          <AdaptationSet mimeType="video/mp4"><BaseURL>video/</BaseURL>
            <SegmentTemplate duration="2" media="$RepresentationID$-$Number$.m4s" initialization="init-$RepresentationID$.mp4"/>
            <Representation id="rel" bandwidth="1"><BaseURL>hi/</BaseURL></Representation>
            <Representation id="abs" bandwidth="2"><BaseURL>https://cdn2.example.net/abs/</BaseURL></Representation>
            <Representation id="none" bandwidth="3"/>
          </AdaptationSet>
          <AdaptationSet mimeType="audio/mp4"><BaseURL>/rooted/audio/</BaseURL>
            <SegmentTemplate duration="2" media="$Number$.m4a"/>
            <Representation id="aud" bandwidth="1"><BaseURL serviceLocation="x"> ../shared/ </BaseURL></Representation>
          </AdaptationSet>
        </Period>`,
      ),
      URL_,
    );
    const first = (id: string): string | undefined => representationSegments(m, rep(m, id)).segments[0]?.uri;
    assert.equal(m.baseUrl, 'https://cdn1.example.com/root/');
    assert.equal(m.periods[0]?.baseUrl, 'https://cdn1.example.com/root/period1/');
    assert.equal(first('rel'), 'https://cdn1.example.com/root/period1/video/hi/rel-1.m4s');
    assert.equal(
      representationSegments(m, rep(m, 'rel')).init?.uri,
      'https://cdn1.example.com/root/period1/video/hi/init-rel.mp4',
    );
    assert.equal(first('abs'), 'https://cdn2.example.net/abs/abs-1.m4s');
    assert.equal(first('none'), 'https://cdn1.example.com/root/period1/video/none-1.m4s');
    assert.equal(first('aud'), 'https://cdn1.example.com/rooted/shared/1.m4a');
    const noBase = parseMpd(NUMBER_MPD, 'https://other.example.org/x/y/z.mpd?token=1');
    assert.equal(noBase.baseUrl, 'https://other.example.org/x/y/z.mpd?token=1');
    assert.equal(
      representationSegments(noBase, rep(noBase, 'v360')).segments[0]?.uri,
      'https://other.example.org/x/y/v360/seg-00007-800000.m4s',
    );
  });

  it('two periods: start times, inherited templates, concatenation with a discontinuity and a new init', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT10S"',
        `<Period id="ad" duration="PT6S">
          <SegmentTemplate timescale="1000" duration="2000" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
          <AdaptationSet mimeType="video/mp4"><Representation id="ad-v" bandwidth="1" height="720"/></AdaptationSet>
        </Period>
        <Period id="main">
          <AdaptationSet mimeType="video/mp4">
            <SegmentTemplate timescale="1000" duration="2000" startNumber="1" media="$RepresentationID$/$Number$.m4s" initialization="$RepresentationID$/init.mp4"/>
            <Representation id="main-v" bandwidth="1" height="720"/>
          </AdaptationSet>
        </Period>`,
      ),
      URL_,
    );
    assert.deepEqual(
      m.periods.map((p) => [p.id, p.start, p.duration]),
      [
        ['ad', 0, 6],
        ['main', 6, 4],
      ],
    );
    const lists = m.periods.map((p) =>
      representationSegments(m, pickRepresentation(p.adaptationSets, 'video', '720p')),
    );
    const all = concatPeriods(lists);
    assert.deepEqual(
      all.map((s) => [s.key, s.start, s.discontinuity, s.periodIndex]),
      [
        ['ad/ad-v/n1', 0, false, 0],
        ['ad/ad-v/n2', 2, false, 0],
        ['ad/ad-v/n3', 4, false, 0],
        ['main/main-v/n1', 6, true, 1],
        ['main/main-v/n2', 8, false, 1],
      ],
    );
    assert.equal(all[3]?.init?.uri, 'https://origin.example.com/vod/movie/main-v/init.mp4');
    assert.notEqual(all[3]?.init, all[2]?.init);
  });
});

describe('DASH dynamic MPD at a given now', () => {
  const AST = Date.UTC(2024, 0, 1, 0, 0, 0);
  const live = (
    attrs = 'timeShiftBufferDepth="PT30S"',
    period = 'start="PT0S"',
    template = 'duration="2000"',
  ): DashManifest =>
    parseMpd(
      mpd(
        `type="dynamic" availabilityStartTime="2024-01-01T00:00:00Z" publishTime="2024-01-01T00:01:40Z" minimumUpdatePeriod="PT2S" suggestedPresentationDelay="PT6S" maxSegmentDuration="PT2S" ${attrs}`,
        `<Location>https://origin.example.com/live/manifest.mpd?v=2</Location>
        <Period id="live" ${period}><AdaptationSet contentType="video">
          <SegmentTemplate timescale="1000" ${template} startNumber="1" media="v/$Number$.m4s" initialization="v/init.mp4"/>
          <Representation id="v" bandwidth="1000000" width="1280" height="720"/>
        </AdaptationSet></Period>`,
      ),
      URL_,
    );

  it('reads the dynamic attributes', () => {
    const m = live();
    assert.equal(m.type, 'dynamic');
    assert.equal(m.availabilityStartTime, AST);
    assert.equal(m.publishTime, AST + 100_000);
    assert.equal(m.timeShiftBufferDepth, 30);
    assert.equal(m.minimumUpdatePeriod, 2);
    assert.equal(m.suggestedPresentationDelay, 6);
    assert.equal(m.location, 'https://origin.example.com/live/manifest.mpd?v=2');
    assert.equal(dashRefreshDelayMs(m), 2000);
    assert.equal(dashRefreshDelayMs(parseMpd(NUMBER_MPD, URL_)), undefined);
  });

  it('$Number$: the segments available at now, from the time-shift buffer start to the live edge', () => {
    const m = live();
    const list = representationSegments(m, rep(m, 'v'), { now: AST + 100_500 });
    // Segment n spans [2(n-1), 2n); complete by 100.5 s: up to n=50; still in a 30 s buffer: from n=36.
    assert.deepEqual(
      list.segments.map((s) => s.number),
      Array.from({ length: 15 }, (_, i) => 36 + i),
    );
    assert.equal(list.segments[0]?.start, 70);
    assert.equal(list.segments[0]?.uri, 'https://origin.example.com/vod/movie/v/36.m4s');
    assert.equal(list.liveEdge, 100);
    const w = dashLiveWindow(m, list);
    assert.deepEqual(
      w.segments.map((s) => s.number),
      [48, 49, 50],
      'suggestedPresentationDelay 6 s behind the edge',
    );
    assert.equal(w.skipped, 12);
    assert.equal(dashLiveWindow(m, list, { fromStart: true }).segments.length, 15);
    assert.deepEqual(
      dashLiveWindow(m, list, { delay: 2 }).segments.map((s) => s.number),
      [50],
    );
  });

  it('the window moves with now; keys stay the same; before the start nothing is available', () => {
    const m = live();
    const a = representationSegments(m, rep(m, 'v'), { now: AST + 100_500 });
    const b = representationSegments(m, rep(m, 'v'), { now: AST + 104_100 });
    assert.deepEqual(
      b.segments.map((s) => s.number),
      Array.from({ length: 15 }, (_, i) => 38 + i),
    );
    assert.equal(a.segments.find((s) => s.number === 40)?.key, b.segments.find((s) => s.number === 40)?.key);
    assert.deepEqual(representationSegments(m, rep(m, 'v'), { now: AST - 5000 }).segments, []);
    assert.deepEqual(representationSegments(m, rep(m, 'v'), { now: AST + 1999 }).segments, []);
    assert.equal(representationSegments(m, rep(m, 'v'), { now: AST + 2000 }).segments.length, 1);
  });

  it('honours Period@start, availabilityTimeOffset and a missing timeShiftBufferDepth', () => {
    const late = live(undefined, 'start="PT60S"');
    const l = representationSegments(late, rep(late, 'v'), { now: AST + 100_500 });
    assert.equal(l.segments.at(-1)?.number, 20);
    assert.equal(l.segments.at(-1)?.start, 98);
    const early = live(undefined, undefined, 'duration="2000" availabilityTimeOffset="2"');
    assert.equal(
      representationSegments(early, rep(early, 'v'), { now: AST + 100_500 }).segments.at(-1)?.number,
      51,
    );
    const dvr = live('');
    assert.equal(representationSegments(dvr, rep(dvr, 'v'), { now: AST + 100_500 }).segments.length, 50);
  });

  it('keeps only the newest segments when the window is larger than the limit', () => {
    const m = live('');
    const list = representationSegments(m, rep(m, 'v'), { now: AST + 100_500, maxSegments: 10 });
    assert.equal(list.truncated, true);
    assert.deepEqual(
      list.segments.map((s) => s.number),
      Array.from({ length: 10 }, (_, i) => 41 + i),
    );
  });

  it('SegmentTimeline: the segments listed, r=-1 at the end extended to the live edge', () => {
    const m = parseMpd(
      mpd(
        'type="dynamic" availabilityStartTime="2024-01-01T00:00:00Z" timeShiftBufferDepth="PT30S"',
        `<Period id="live" start="PT0S"><AdaptationSet contentType="video">
          <SegmentTemplate timescale="1000" media="v/$Time$.m4s"><SegmentTimeline>
            <S t="90000" d="2000" r="2"/><S d="1000" r="-1"/>
          </SegmentTimeline></SegmentTemplate>
          <Representation id="v" bandwidth="1000000"/>
        </AdaptationSet></Period>`,
      ),
      URL_,
    );
    const list = representationSegments(m, rep(m, 'v'), { now: AST + 100_500 });
    assert.deepEqual(
      list.segments.map((s) => [s.time, s.start]),
      [
        [90000, 90],
        [92000, 92],
        [94000, 94],
        [96000, 96],
        [97000, 97],
        [98000, 98],
        [99000, 99],
      ],
    );
    assert.equal(list.liveEdge, 100);
  });

  it('a dynamic MPD needs now and availabilityStartTime', () => {
    const m = live();
    assert.throws(() => representationSegments(m, rep(m, 'v')), UsageError);
    throwsFormat(() => parseMpd(mpd('type="dynamic"', '<Period/>'), URL_), /needs @availabilityStartTime/);
  });
});

describe('DASH values and templates', () => {
  it('parses xs:duration', () => {
    assert.equal(parseXsDuration('PT4S', 'x'), 4);
    assert.equal(parseXsDuration('PT1H2M3.5S', 'x'), 3723.5);
    assert.equal(parseXsDuration('P1DT1S', 'x'), 86401);
    assert.equal(parseXsDuration('P0Y0M0DT0H3M30.000S', 'x'), 210);
    for (const bad of ['', 'P', 'PT', '4S', '-PT4S', 'PT4', 'PTS', 'PT1.S2']) {
      throwsFormat(() => parseXsDuration(bad, 'MPD @x'), /is not an xs:duration/);
    }
  });

  it('compiles templates: $$, widths, unknown identifiers, unclosed $', () => {
    const t = compileTemplate('a$$b/$RepresentationID$/$Number%03d$-$Time$.m4s', 'w');
    assert.equal(fillTemplate(t, { RepresentationID: 'v1', Number: 7, Time: 123 }), 'a$b/v1/007-123.m4s');
    assert.equal(fillTemplate(t, { RepresentationID: 'v1' }), 'a$b/v1/$Number%03d$-$Time$.m4s');
    throwsFormat(() => compileTemplate('$Foo$', 'w'), /unknown identifier \$Foo\$/, 'E_DASH_TEMPLATE');
    throwsFormat(() => compileTemplate('seg-$Number.m4s', 'w'), /unclosed \$/, 'E_DASH_TEMPLATE');
    throwsFormat(() => compileTemplate('$RepresentationID%05d$', 'w'), /format tag is not allowed/);
    throwsFormat(() => compileTemplate('$Number%d$', 'w'), /unknown identifier/);
  });
});

describe('DASH hostile and malformed MPDs', () => {
  const template = (attrs: string, timeline = ''): string =>
    mpd(
      'type="static" mediaPresentationDuration="PT100000S"',
      `<Period><AdaptationSet mimeType="video/mp4"><Representation id="r" bandwidth="1">
        <SegmentTemplate media="$Number$.m4s" ${attrs}>${timeline}</SegmentTemplate>
      </Representation></AdaptationSet></Period>`,
    );

  it('garbage and non-MPD documents are FormatErrors', () => {
    throwsFormat(
      () => parseMpd('this is not xml at all', URL_),
      /line 1, column 1: not well-formed XML/,
      'E_DASH_XML',
    );
    throwsFormat(() => parseMpd('<MPD><Period></MPD>', URL_), /not well-formed XML/);
    throwsFormat(() => parseMpd('', URL_), /MPD/);
    throwsFormat(
      () => parseMpd('<html><body>404</body></html>', URL_),
      /not an MPD: the root element is <html>/,
    );
    throwsFormat(() => parseMpd('#EXTM3U\n#EXT-X-TARGETDURATION:4', URL_), /not well-formed/);
  });

  it('deep nesting is bounded', () => {
    const deep = `<MPD>${'<a>'.repeat(100_000)}${'</a>'.repeat(100_000)}</MPD>`;
    throwsFormat(() => parseMpd(deep, URL_), /elements nested deeper than 32/, 'E_DASH_XML');
    const fourty = `<MPD>${'<a>'.repeat(40)}${'</a>'.repeat(40)}</MPD>`;
    throwsFormat(() => parseMpd(fourty, URL_), /elements nested deeper than 32/, 'E_DASH_XML');
    assert.equal(parseMpd(fourty, URL_, { maxDepth: 64 }).periods.length, 0);
  });

  it('DOCTYPE and entity declarations are refused (entity expansion)', () => {
    const bomb = `<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">]>
<MPD type="static"><BaseURL>&lol2;</BaseURL></MPD>`;
    throwsFormat(() => parseMpd(bomb, URL_), /line 2: a DOCTYPE\/ENTITY declaration is not accepted/);
  });

  it('zero or negative timescales, durations and bad S elements are FormatErrors', () => {
    throwsFormat(
      () => parseMpd(template('timescale="0" duration="1"'), URL_),
      /@timescale must be a positive integer, got "0"/,
      'E_DASH_VALUE',
    );
    throwsFormat(
      () => parseMpd(template('timescale="-90000" duration="1"'), URL_),
      /@timescale must be a positive integer/,
    );
    throwsFormat(() => parseMpd(template('timescale="1.5" duration="1"'), URL_), /@timescale/);
    throwsFormat(() => parseMpd(template('duration="0"'), URL_), /@duration must be a positive number/);
    throwsFormat(() => parseMpd(template('duration="-2"'), URL_), /@duration must be a positive number/);
    throwsFormat(() => parseMpd(template(''), URL_), /neither @duration nor SegmentTimeline/);
    throwsFormat(
      () => parseMpd(template('', '<SegmentTimeline><S d="0"/></SegmentTimeline>'), URL_),
      /S@d must be a positive/,
    );
    throwsFormat(
      () => parseMpd(template('', '<SegmentTimeline><S d="1" r="-2"/></SegmentTimeline>'), URL_),
      /S@r "-2"/,
    );
    throwsFormat(() => parseMpd(template('duration="1" startNumber="x"'), URL_), /@startNumber "x"/);
    throwsFormat(
      () => parseMpd(template('duration="1" media="$Bogus$"').replace('media="$Number$.m4s" ', ''), URL_),
      /unknown identifier/,
    );
    throwsFormat(() => parseMpd(mpd('type="live"', ''), URL_), /@type "live"/);
    throwsFormat(() => parseMpd(mpd('mediaPresentationDuration="PT-5S"', ''), URL_), /is not an xs:duration/);
    throwsFormat(
      () =>
        parseMpd(
          mpd('', '<Period><AdaptationSet><Representation bandwidth="1"/></AdaptationSet></Period>'),
          URL_,
        ),
      /has no @id/,
    );
    throwsFormat(
      () =>
        parseMpd(mpd('', '<Period><AdaptationSet><Representation id="x"/></AdaptationSet></Period>'), URL_),
      /has no @bandwidth/,
    );
    throwsFormat(
      () =>
        parseMpd(
          mpd(
            '',
            '<Period><AdaptationSet><Representation id="x" bandwidth="1"><SegmentBase indexRange="9-1"/></Representation></AdaptationSet></Period>',
          ),
          URL_,
        ),
      /byte range "9-1"/,
    );
  });

  it('huge segment counts are refused quickly', () => {
    const m = parseMpd(template('timescale="1000" duration="1"'), URL_);
    throwsFormat(
      () => representationSegments(m, rep(m, 'r')),
      /expands to 100000000 segments \(limit 1000000\)/,
      'E_DASH_LIMIT',
    );
    const t = parseMpd(template('', '<SegmentTimeline><S d="1" r="1000000000000"/></SegmentTimeline>'), URL_);
    throwsFormat(
      () => representationSegments(t, rep(t, 'r')),
      /expands to 1000000000001 segments/,
      'E_DASH_LIMIT',
    );
    const many = template('', `<SegmentTimeline>${'<S d="1"/>'.repeat(20)}</SegmentTimeline>`);
    throwsFormat(
      () => parseMpd(many, URL_, { maxSegments: 10 }),
      /more than 10 segment elements/,
      'E_DASH_LIMIT',
    );
  });

  it('reports file:, data: and other non-http URIs, wherever they come from', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT4S"',
        `<Period><AdaptationSet mimeType="video/mp4">
          <Representation id="a" bandwidth="1"><BaseURL>file:///etc/</BaseURL><SegmentTemplate duration="2" media="$Number$"/></Representation>
          <Representation id="file:" bandwidth="1"><SegmentTemplate duration="2" media="$RepresentationID$/etc/passwd"/></Representation>
          <Representation id="c" bandwidth="1"><SegmentList duration="2"><Initialization sourceURL="data:,init"/><SegmentURL media="gopher://x/1"/></SegmentList></Representation>
          <Representation id="d" bandwidth="1"><SegmentTemplate duration="2" media="$Number$.m4s" initialization="file:///init"/></Representation>
        </AdaptationSet></Period>`,
      ),
      URL_,
    );
    assert.deepEqual(
      m.unsafeUris.map((u) => [u.scheme, u.uri]),
      [
        ['file:', 'file:///etc/'],
        ['file:', 'file:///etc/1'],
        ['file:', 'file:///etc/passwd'],
        ['gopher:', 'gopher://x/1'],
        ['data:', 'data:,init'],
        ['file:', 'file:///init'],
      ],
    );
    assert.match(m.unsafeUris[2]?.where ?? '', /Representation id="file:" SegmentTemplate@media/);
  });

  it('unknown elements are ignored; remote (xlink) periods are skipped with a warning', () => {
    const m = parseMpd(
      mpd(
        'type="static" mediaPresentationDuration="PT4S" xmlns:xlink="http://www.w3.org/1999/xlink"',
        '<Period xlink:href="https://ads.example.com/p.xml" xlink:actuate="onLoad"/><Period><Foo><Bar/></Foo><AdaptationSet/></Period>',
      ),
      URL_,
    );
    assert.equal(m.periods.length, 1);
    assert.deepEqual(
      m.warnings.map((w) => w.code),
      ['W_DASH_XLINK'],
    );
  });

  it('prototype-polluting names are refused as malformed, not obeyed', () => {
    throwsFormat(() => parseMpd('<MPD><Period __proto__="x" constructor="y"/></MPD>', URL_), /MPD/);
    assert.equal(({} as Record<string, unknown>).x, undefined);
  });

  it('no internal errors escape on mutated MPDs', () => {
    let seed = 3;
    const rand = (n: number): number => ((seed = (seed * 1103515245 + 12345) & 0x7fffffff), seed % n);
    const chars = '<>/="$ -0123456789PTSrdt';
    for (let round = 0; round < 1500; round++) {
      const a = NUMBER_MPD.split('');
      for (let k = 0; k < 1 + rand(4); k++) a[rand(a.length)] = chars[rand(chars.length)] as string;
      const text = a.join('').slice(0, rand(8) === 0 ? rand(a.length) : a.length);
      try {
        const m = parseMpd(text, URL_);
        for (const p of m.periods)
          for (const s of p.adaptationSets) for (const r of s.representations) representationSegments(m, r);
      } catch (err) {
        assert.ok(err instanceof CastkitError && err.category === 'input', `${String(err)}\n${text}`);
      }
    }
  });
});
