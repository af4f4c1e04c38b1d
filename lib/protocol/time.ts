// Time on the wire: Go's time.Time JSON form (RFC3339Nano), always UTC. Pure.

const secCache = { sec: -1, text: '' };

/** RFC3339 with 0-9 fractional digits, trailing zeros trimmed, `Z` suffix (Go RFC3339Nano). */
export function formatTime(sec: number, nsec: number): string {
  if (sec !== secCache.sec) {
    secCache.sec = sec;
    secCache.text = new Date(sec * 1000).toISOString().slice(0, 19);
  }
  if (nsec === 0) return secCache.text + 'Z';
  let frac = String(nsec + 1_000_000_000).slice(1); // zero-padded to 9 digits
  let end = 9;
  while (frac.charCodeAt(end - 1) === 48 /* 0 */) end--;
  if (end < 9) frac = frac.slice(0, end);
  return secCache.text + '.' + frac + 'Z';
}

/** RFC3339 to whole seconds (logwrite's file format: `<RFC3339 seconds> <source> <msg>`). */
export function formatTimeSeconds(sec: number): string {
  return formatTime(sec, 0);
}

/** A time in milliseconds since the epoch (fractions allowed), in the wire form. */
export function formatTimeMs(ms: number): string {
  const sec = Math.floor(ms / 1000);
  return formatTime(sec, Math.round((ms - sec * 1000) * 1e6));
}

/** A time in (fractional) seconds since the epoch, in the wire form. */
export function formatTimeSec(seconds: number): string {
  return formatTime(Math.floor(seconds), Math.round((seconds % 1) * 1e9));
}

/** Parses an RFC3339(Nano) timestamp into [sec, nsec]; null when it is not one. */
export function parseTime(text: string): [number, number] | null {
  const m = /^(\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2})(?:\.(\d{1,9}))?(Z|[+-]\d{2}:\d{2})$/.exec(text);
  if (!m) return null;
  const ms = Date.parse(m[1] + (m[3] === 'Z' ? 'Z' : m[3]));
  if (Number.isNaN(ms)) return null;
  return [Math.floor(ms / 1000), m[2] ? Number(m[2].padEnd(9, '0')) : 0];
}
