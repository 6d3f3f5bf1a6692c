/**
 * Choosing representations in one DASH period: one video by quality, one audio by language, analogous to
 * pickVariant/pickAudio for HLS. For several periods, choose in each period's adaptation sets in turn.
 */
import { UsageError } from '../../core/errors.js';
import { bestLanguageMatches, listLanguages, pickByQuality } from '../hls/manifest-common.js';
import type { DashAdaptationSet, DashContentType, DashRepresentation, Quality } from './dash-types.js';

function setsOf(adaptationSets: readonly DashAdaptationSet[], kind: DashContentType): DashAdaptationSet[] {
  return adaptationSets.filter((s) => s.contentType === kind && !s.trickMode && s.representations.length > 0);
}

/**
 * The representation of a kind ('video', 'audio', 'text') that a quality names, across all adaptation sets
 * of that kind (trick-mode sets left out): 'best', 'worst', '720p' (closest height below, then above), or a
 * bandwidth. A UsageError when there is none of that kind.
 */
export function pickRepresentation(
  adaptationSets: readonly DashAdaptationSet[],
  kind: DashContentType,
  quality: Quality = 'best',
): DashRepresentation {
  const reps = setsOf(adaptationSets, kind).flatMap((s) => s.representations);
  if (reps.length === 0) {
    throw new UsageError(`the MPD period has no ${kind} representations`, { code: 'E_NO_VARIANT' });
  }
  return pickByQuality(reps, quality, `${kind} representations`);
}

/**
 * The audio representation for a language: the adaptation set whose @lang matches best (exact, primary
 * subtag, ISO 639 alias; @label as a last resort), Role "main" first among equals, then its representation
 * by `quality`. Without a language: the "main" set, else the first. Undefined when the period has no audio
 * and no language was asked for; a UsageError listing the languages when the language is not there.
 */
export function pickAudio(
  adaptationSets: readonly DashAdaptationSet[],
  lang?: string,
  quality: Quality = 'best',
): DashRepresentation | undefined {
  const sets = setsOf(adaptationSets, 'audio');
  let candidates = sets;
  if (lang !== undefined) {
    candidates = bestLanguageMatches(sets, (s) => s.lang, lang);
    if (candidates.length === 0) {
      candidates = sets.filter((s) => s.label?.toLowerCase() === lang.trim().toLowerCase());
    }
    if (candidates.length === 0) {
      const available = listLanguages(sets.map((s) => s.lang));
      throw new UsageError(`no audio in language "${lang}"; available: ${available}`, {
        code: 'E_NO_SUCH_AUDIO',
        hint: sets.length > 0 ? `choose one of: ${available}` : 'this period has no audio adaptation sets',
        details: { lang, available: sets.map((s) => ({ lang: s.lang, label: s.label })) },
      });
    }
  }
  const set = candidates.find((s) => s.roles.includes('main')) ?? candidates[0];
  return set ? pickByQuality(set.representations, quality, 'audio representations') : undefined;
}
