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

/**
 * Two built-ins the packages load at start-up that castkit's commands do not need there:
 * - commander requires node:child_process (with node:net and node:dgram behind it) for git-style
 *   subcommands in separate executables, which castkit has none of: it gets a spawn that loads the module
 *   when called. About 3 ms of every command.
 * - undici's HTTP/2 client requires node:http2 (about 6 ms with what it loads) inside a try, falling back
 *   to an object with no constants when it is missing; castkit never enables HTTP/2 (allowH2), so that
 *   fallback is what the bundle gets.
 */
const trimBuiltins = {
  name: 'trim-builtins',
  setup(b) {
    b.onResolve({ filter: /^node:(child_process|http2)$/ }, (a) => {
      if (a.path === 'node:child_process' && a.importer.includes('/node_modules/commander/'))
        return { path: 'child_process', namespace: 'castkit-trimmed' };
      if (a.path === 'node:http2' && a.importer.includes('/node_modules/undici/'))
        return { path: 'http2', namespace: 'castkit-trimmed' };
      return undefined;
    });
    b.onLoad({ filter: /.*/, namespace: 'castkit-trimmed' }, (a) => ({
      contents:
        a.path === 'http2'
          ? 'module.exports = { constants: {} };'
          : "let cp; module.exports = { spawn: (...args) => (cp ??= require('node:child_process')).spawn(...args) };",
      loader: 'js',
    }));
  },
};

const result = await build({
  plugins: [trimBuiltins],
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
