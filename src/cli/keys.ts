/** Arguments that name objects in an object store. */
import { ReboundError } from '../errors.js';

/**
 * A generation's key, as `rebound backup list` prints it in its KEY column. Its number
 * (the GENERATION column) is the easy mistake: say so here, not as a schema pattern.
 */
export function generationKey(text: string, what: string): string {
  if (!text.startsWith('volumes/'))
    throw new ReboundError(
      'INVALID_ARGUMENT',
      `${what} "${text}" is not a generation key: give one from the KEY column of rebound backup list (volumes/<id>/catalog/...)`,
    );
  return text;
}
