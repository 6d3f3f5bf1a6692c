import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatVttTime, joinWebVtt, parseVttTime } from '../../../src/formats/hls/webvtt.js';

describe('joinWebVtt', () => {
  it('joins segments, moves cue times by X-TIMESTAMP-MAP, and writes a cue split across segments once', () => {
    const a =
      'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:900000,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:03.000\nhello\n';
    const b =
      'WEBVTT\r\nX-TIMESTAMP-MAP=MPEGTS:1080000,LOCAL:00:00:00.000\r\n\r\n' +
      '00:00:01.000 --> 00:00:01.500\r\nhello again\r\n\r\ncue-7\n00:00:02.000 --> 00:00:04.000 align:start\nthere\n';
    const repeat =
      'WEBVTT\nX-TIMESTAMP-MAP=MPEGTS:1080000,LOCAL:00:00:00.000\n\n00:00:01.000 --> 00:00:01.500\nhello again\n';
    const out = joinWebVtt([a, b, repeat, '<html>error</html>']);
    assert.equal(
      out,
      'WEBVTT\n\n00:00:01.000 --> 00:00:03.000\nhello\n\n' +
        '00:00:03.000 --> 00:00:03.500\nhello again\n\n' +
        'cue-7\n00:00:04.000 --> 00:00:06.000 align:start\nthere\n',
    );
  });

  it('keeps times as written without a timestamp map, and formats hours', () => {
    assert.equal(parseVttTime('01:02:03.500'), 3723.5);
    assert.equal(parseVttTime('02:03.500'), 123.5);
    assert.equal(formatVttTime(3723.5), '01:02:03.500');
    const out = joinWebVtt([
      'WEBVTT\n\n00:10.000 --> 00:12.000\nx\n',
      'WEBVTT\n\n00:14.000 --> 00:15.000\ny\n',
    ]);
    assert.match(out, /00:00:10.000 --> 00:00:12.000\nx\n\n00:00:14.000 --> 00:00:15.000\ny\n$/);
  });

  it('an empty list or only non-WebVTT bodies give an empty WebVTT file', () => {
    assert.equal(joinWebVtt([]), 'WEBVTT\n\n');
    assert.equal(joinWebVtt(['not vtt']), 'WEBVTT\n\n');
  });
});
