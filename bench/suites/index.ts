/**
 * The suite registry. To add a suite: write bench/suites/NAME.ts exporting a `Suite`, import it here and
 * add it to SUITES (the order here is the order `npm run bench` runs them in).
 */
import type { Suite } from '../lib/types.js';
import { probeSuite } from './probe.js';
import { recordSuite } from './record.js';
import { remuxSuite } from './remux.js';
import { startSuite } from './start.js';
import { ustreamSuite } from './ustream.js';

export const SUITES: readonly Suite[] = [startSuite, probeSuite, remuxSuite, recordSuite, ustreamSuite];

export function findSuite(name: string): Suite | undefined {
  return SUITES.find((s) => s.name === name);
}
