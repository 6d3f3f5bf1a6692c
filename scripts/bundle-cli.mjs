// Bundles the command line (tsc's dist/cli/main.js and everything it imports from dist/) into a few files:
// dist/cli/main.js, the entry, and dist/cli/chunks/*.js, one per lazily loaded command plus the code they
// share. Node 20 loads ES modules one by one (resolve, read, compile, link); `castkit remux` loaded 66 of
// ours, about 55 ms of its start on this 2-core machine, and about 60 ms less as 6 chunks (measured by hand,
// 117 MB fMP4 -> MP4). The library (dist/index.js and below) stays tsc's output, module for module.
// Packages (commander, undici, ws, ...) stay imports from node_modules.
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
  packages: 'external',
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
