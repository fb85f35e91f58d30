/** Unsent composer text per room, kept while switching rooms (memory only). */
export const drafts = new Map<number, string>();
