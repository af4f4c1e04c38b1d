// Cursors: a position in one memlogd instance's sequence, `<instance>:<seq>`. Pure.

export interface Cursor {
  instance: string;
  seq: number;
}

/** `<instance>:<seq>` */
export function formatCursor(instance: string, seq: number): string {
  return `${instance}:${seq}`;
}

/** The parts of a cursor, or null when s is not one (instance: 1-64 hex digits; seq below 2^53). */
export function parseCursor(s: string): Cursor | null {
  const m = /^([0-9a-f]{1,64}):(\d{1,16})$/.exec(s);
  if (!m) return null;
  const seq = Number(m[2]);
  return Number.isSafeInteger(seq) ? { instance: m[1], seq } : null;
}
