// Bundles the command line (tsc's dist/cli/main.js and everything it imports from dist/) into a few files:
// dist/cli/main.js, the entry, and dist/cli/chunks/*.js, one per lazily loaded command plus the code they
// share. Node 20 loads ES modules one by one (resolve, read, compile, link); `castkit remux` loaded 66 of
// ours, about 55 ms of its start on this 2-core machine, and about 60 ms less as 6 chunks (measured by hand,
// 117 MB fMP4 -> MP4). The library (dist/index.js and below) stays tsc's output, module for module.
// The packages (commander, undici, hls-parser, fast-xml-parser, ws) go into the bundle too: undici alone is
// 31 CommonJS files, each found, read and wrapped on its own; `castkit record --list` on a loopback origin
// took 315 ms, 232 ms with the packages bundled (by hand; 195 ms with main.ts's --liftoff-only as well).
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { build } from 'esbuild';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const cli = join(root, 'dist', 'cli');

const result = await build({
  entryPoints: [join(cli, 'main.js')],
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node20',
  // ws's optional native speed-ups: ws falls back to JavaScript when they are missing.
  external: ['bufferutil', 'utf-8-validate'],
  // The packages' CommonJS modules require Node's built-ins.
  banner: {
    js: "import { createRequire as __castkitRequire } from 'node:module'; const require = __castkitRequire(import.meta.url);",
  },
  outdir: cli,
  entryNames: '[name]',
  chunkNames: 'chunks/[name]-[hash]',
  sourcemap: 'linked',
  write: false,
  logLevel: 'warning',
});

// tsc's separate modules of the command line go; the bundle takes their place.
rmSync(cli, { recursive: true, force: true });
for (const f of result.outputFiles) {
  mkdirSync(dirname(f.path), { recursive: true });
  writeFileSync(f.path, f.contents, f.path.endsWith('main.js') ? { mode: 0o755 } : {});
}
const files = result.outputFiles.filter((f) => f.path.endsWith('.js'));
console.log(`bundled the CLI into ${files.length} files under ${relative(root, cli)}/`);
