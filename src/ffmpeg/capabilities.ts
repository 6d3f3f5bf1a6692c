/** What an ffmpeg build can do, read from `-encoders`, `-protocols` and `-devices`. Parsers are pure. */

export interface Capability {
  name: string;
  kind: 'encoder' | 'protocol' | 'device';
  available: boolean;
  /** What castkit uses it for. */
  usedFor: string;
  /** What to do when it is missing. */
  hint: string;
}

/** Names from the table of `ffmpeg -encoders` (after the ------ line). */
export function parseEncoders(text: string): Set<string> {
  const names = new Set<string>();
  const lines = text.split('\n');
  const start = lines.findIndex((l) => /^\s*-{3,}\s*$/.test(l));
  for (const line of lines.slice(start + 1)) {
    const m = /^\s*[VAS.][A-Z.]{5}\s+(\S+)/.exec(line);
    if (m?.[1]) names.add(m[1]);
  }
  return names;
}

export interface Protocols {
  input: Set<string>;
  output: Set<string>;
}

/** `ffmpeg -protocols`: an "Input:" list and an "Output:" list, one name per line. */
export function parseProtocols(text: string): Protocols {
  const out: Protocols = { input: new Set(), output: new Set() };
  let current: Set<string> | undefined;
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (/^Input:$/i.test(line)) current = out.input;
    else if (/^Output:$/i.test(line)) current = out.output;
    else if (current && /^[a-z0-9_]+$/.test(line)) current.add(line);
  }
  return out;
}

export interface Devices {
  demux: Set<string>;
  mux: Set<string>;
}

/** `ffmpeg -devices`: " D  x11grab  X11 screen capture"; a name may be "video4linux2,v4l2". */
export function parseDevices(text: string): Devices {
  const out: Devices = { demux: new Set(), mux: new Set() };
  let inTable = false;
  for (const line of text.split('\n')) {
    if (/^\s*--\s*$/.test(line)) {
      inTable = true;
      continue;
    }
    if (!inTable) continue;
    const m = /^ ?([D ])([E ]) +(\S+)/.exec(line);
    if (!m?.[3]) continue;
    for (const name of m[3].split(',')) {
      if (m[1] === 'D') out.demux.add(name);
      if (m[2] === 'E') out.mux.add(name);
    }
  }
  return out;
}

/** "ffmpeg version 5.1.9-0+deb12u1 Copyright ..." -> "5.1.9-0+deb12u1". */
export function parseVersion(text: string): string | undefined {
  return /^\S+ version (\S+)/m.exec(text)?.[1];
}

const REBUILD = 'install a full ffmpeg build (Debian: apt-get install ffmpeg) or point CASTKIT_FFMPEG at one';

export function evaluateCapabilities(
  encoders: Set<string>,
  protocols: Protocols,
  devices: Devices,
): Capability[] {
  const enc = (name: string, usedFor: string): Capability => ({
    name,
    kind: 'encoder',
    available: encoders.has(name),
    usedFor,
    hint: `${REBUILD} with --enable-${name}`,
  });
  const proto = (name: string, usedFor: string, hint: string): Capability => ({
    name,
    kind: 'protocol',
    available: protocols.output.has(name) || protocols.input.has(name),
    usedFor,
    hint,
  });
  const dev = (name: string, usedFor: string, hint: string): Capability => ({
    name,
    kind: 'device',
    available: devices.demux.has(name),
    usedFor,
    hint,
  });
  return [
    enc('libx264', 'H.264 encoding: package ladders, live'),
    enc('libx265', 'HEVC encoding: package --codec hevc'),
    enc('libvpx-vp9', 'VP9 encoding: package --codec vp9'),
    { ...enc('aac', 'AAC audio encoding'), hint: REBUILD },
    proto('rtmp', 'live to RTMP servers', REBUILD),
    proto('rtmps', 'live to RTMPS servers (Facebook, YouTube)', `${REBUILD} with TLS (gnutls or openssl)`),
    proto('tls', 'TLS for rtmps and https', `${REBUILD} with --enable-gnutls or --enable-openssl`),
    proto('srt', 'live to SRT destinations', `${REBUILD} with --enable-libsrt`),
    dev('x11grab', 'screen capture on Linux (X11)', `${REBUILD} with --enable-libxcb`),
    dev('v4l2', 'camera capture on Linux', `${REBUILD} with --enable-libv4l2`),
    dev('pulse', 'microphone capture (PulseAudio)', `${REBUILD} with --enable-libpulse`),
  ];
}
