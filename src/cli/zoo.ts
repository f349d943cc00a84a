/** The models the commands can see: the registry in the real program, a few fakes in tests. */
import type { ModelEntry } from '../models/entry.js';

export interface Zoo {
  entries: readonly ModelEntry[];
  /** The entry of that name; throws an error listing the closest names if there is none. */
  get(name: string): ModelEntry;
}
