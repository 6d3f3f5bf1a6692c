/**
 * The dependency direction of DESIGN.md:
 *   cli -> api -> {sources, download, package, live, storage, ffmpeg} -> formats -> core
 * Nothing imports upward, there are no cycles, and formats/ is pure (no network, disk, clock or process).
 */
const MIDDLE = '^src/(sources|download|package|live|storage|ffmpeg)/';
module.exports = {
  forbidden: [
    { name: 'no-circular', severity: 'error', from: {}, to: { circular: true } },
    {
      name: 'core-is-the-bottom',
      comment: 'core/ imports only core/',
      severity: 'error',
      from: { path: '^src/core/' },
      to: { path: '^src/', pathNot: '^src/core/' },
    },
    {
      name: 'formats-only-core',
      comment: 'formats/ imports only formats/ and core/',
      severity: 'error',
      from: { path: '^src/formats/' },
      to: { path: '^src/', pathNot: '^src/(formats|core)/' },
    },
    {
      name: 'formats-is-pure',
      comment: 'formats/ never touches the network, the disk, the clock or processes',
      severity: 'error',
      from: { path: '^src/formats/' },
      to: {
        dependencyTypes: ['core'],
        path: '^(node:)?(fs|fs/promises|net|tls|http|https|http2|dgram|dns|child_process|worker_threads|cluster|timers|timers/promises|process|os|readline)$',
      },
    },
    {
      name: 'middle-does-not-import-up',
      comment: 'sources, download, package, live, storage and ffmpeg never import api/ or cli/',
      severity: 'error',
      from: { path: MIDDLE },
      to: { path: '^src/(api|cli)/' },
    },
    {
      name: 'api-does-not-import-cli',
      severity: 'error',
      from: { path: '^src/api/' },
      to: { path: '^src/cli/' },
    },
    {
      name: 'only-cli-and-index-import-api',
      severity: 'error',
      from: { path: '^src/', pathNot: '^src/(cli/|api/|index\\.ts$)' },
      to: { path: '^src/api/' },
    },
    {
      name: 'not-to-unresolvable',
      severity: 'error',
      from: {},
      to: { couldNotResolve: true },
    },
  ],
  options: {
    doNotFollow: { path: 'node_modules' },
    tsConfig: { fileName: 'tsconfig.json' },
    tsPreCompilationDeps: true,
    enhancedResolveOptions: { extensions: ['.ts', '.js'] },
  },
};
