// Bundles the command line (tsc's dist/cli/main.js and everything it imports from dist/) into two CommonJS
// files: dist/cli/main.js, the small entry, and dist/cli/program.js, everything else, which the entry runs
// through a V8 code cache (src/cli/code-cache.ts). dist/cli/package.json makes the directory CommonJS.
// - Node 20 loads ES modules one by one (resolve, read, compile, link): `castkit remux` loaded 66 of ours,
//   about 55 ms of its start on this 2-core machine, about 60 ms less when bundled (by hand, 117 MB
//   fMP4 -> MP4).
// - Node 20 has no code cache for ES modules, and a CommonJS entry starts about 6 ms sooner than an ES one;
//   one CommonJS bundle run with its code cache started a small remux in 91 ms instead of 104 ms as
//   ES chunks (41 interleaved runs, `node -e 0` 62 ms). Without a usable cache (a command's first run)
//   V8 pre-parses the whole bundle, about 10 ms more; dynamic imports stay lazy (esbuild's module
//   initialisers), so a command runs only its own modules' top level.
// The library (dist/index.js and below) stays tsc's output, module for module.
// The packages (commander, undici, hls-parser, fast-xml-parser, ws) go into the bundle too: undici alone is
// 31 CommonJS files, each found, read and wrapped on its own; `castkit record --list` on a loopback origin
// took 315 ms, 232 ms with the packages bundled (by hand; 195 ms with main.ts's --liftoff-only as well).
import { createHash } from 'node:crypto';
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

/** The one place the entry imports the program in tsc's layout: the bundle has its own file for it. */
const programExternal = {
  name: 'program-external',
  setup(b) {
    b.onResolve({ filter: /^\.\/program\.js$/ }, (a) =>
      a.importer.endsWith('load-program.js') ? { path: './program.js', external: true } : undefined,
    );
  },
};

/**
 * The program's text with every character past ASCII written as a \\u escape: esbuild escapes them in
 * strings but leaves comments (and regular expressions) as they are, and one such character makes the
 * whole 1.8 MB file a UTF-8 decode (about 4 ms) where ASCII reads as Latin-1, a copy (code-cache.ts). An
 * escape means the same character in a regular expression, a string or an identifier, and is only text in
 * a comment.
 */
function asciiOnly(text) {
  return text.replace(/[^\0-\x7f]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}

const common = {
  bundle: true,
  format: 'cjs',
  platform: 'node',
  target: 'node20',
  // tsc's output is ES modules: their import.meta.url becomes the bundle file's URL.
  define: { 'import.meta.url': '__castkitImportMetaUrl' },
  banner: { js: "var __castkitImportMetaUrl = require('node:url').pathToFileURL(__filename).href;" },
  sourcemap: 'linked',
  write: false,
  logLevel: 'warning',
  // Besides shorter syntax, esbuild then writes the value of an integer constant where it is used, when the
  // module defining it imports nothing (src/formats/flv/flv-tag-classes.ts is such a module on purpose).
  // Otherwise every constant of the bundle is a variable of its scope, assigned when its module is first
  // loaded, which V8 loads on every use and does not fold: the FLV join's scan over 1,400 chunks took
  // 14.5 ms cold and 6.8 warm that way, 10.2 and 4.7 with the values written in. Names are kept.
  minifySyntax: true,
};

const program = await build({
  ...common,
  plugins: [trimBuiltins],
  entryPoints: [join(cli, 'program.js')],
  // ws's optional native speed-ups: ws falls back to JavaScript when they are missing.
  external: ['bufferutil', 'utf-8-validate'],
  outfile: join(cli, 'program.js'),
});
const programJs = program.outputFiles.find((f) => f.path.endsWith('.js'));
if (!programJs) throw new Error('esbuild wrote no program.js');
const programText = asciiOnly(programJs.text);
// The program runs as a vm.Script, where import() needs Node >= 20.12: require built-ins instead.
const leftImport = /(?<!\{)\bimport\(\s*["'`]([^"'`]*)/.exec(programText);
if (leftImport)
  throw new Error(`dist/cli/program.js keeps import('${leftImport[1]}'): use require or lazyBuiltin`);
// Names this bundle in its code caches: a cache is used only with the bundle it was made from.
const buildId = createHash('sha256').update(programText).digest('hex').slice(0, 20);

const main = await build({
  ...common,
  plugins: [programExternal],
  entryPoints: [join(cli, 'main.js')],
  define: { ...common.define, __CASTKIT_BUILD_ID__: JSON.stringify(buildId) },
  outfile: join(cli, 'main.js'),
});

// tsc's separate modules of the command line go; the bundle takes their place.
rmSync(cli, { recursive: true, force: true });
mkdirSync(cli, { recursive: true });
for (const f of [...program.outputFiles, ...main.outputFiles]) {
  const contents = f === programJs ? programText : f.contents;
  writeFileSync(f.path, contents, f.path.endsWith('main.js') ? { mode: 0o755 } : {});
}
writeFileSync(join(cli, 'package.json'), JSON.stringify({ type: 'commonjs' }, null, 2) + '\n');
console.log(`bundled the CLI into ${relative(root, cli)}/main.js and program.js (build ${buildId})`);
