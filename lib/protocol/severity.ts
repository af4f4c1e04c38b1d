// Severities and facilities (RFC 5424, the numbers syslog(3) uses), their names, and what an
// entry's severity is when its source did not say: derived from its stream, as Docker's syslog
// driver does (stdout info, stderr err). Pure.

/** RFC 5424 severities, 0 (emergency) to 7 (debug), by the names syslog(3) and journalctl use. */
export const SEVERITIES = ['emerg', 'alert', 'crit', 'err', 'warning', 'notice', 'info', 'debug'] as const;
export type SeverityName = (typeof SEVERITIES)[number];

/** Other names people use for the same levels (journalctl and syslog accept them too). */
const ALIASES: Record<string, number> = { panic: 0, critical: 2, error: 3, warn: 4, informational: 6 };

/** RFC 5424 facilities 0-23 by name. */
export const FACILITIES = [
  'kern', 'user', 'mail', 'daemon', 'auth', 'syslog', 'lpr', 'news', 'uucp', 'cron', 'authpriv', 'ftp',
  'ntp', 'security', 'console', 'solaris-cron', 'local0', 'local1', 'local2', 'local3', 'local4', 'local5', 'local6', 'local7',
] as const;

/** Severity of an entry from stdout when the source says nothing. */
export const STDOUT_SEVERITY = 6; // info
/** Severity of an entry from stderr when the source says nothing (Docker's syslog driver: err). */
export const STDERR_SEVERITY = 3; // err

/** The default severity of a stream. */
export function streamSeverity(stream: 'stdout' | 'stderr'): number {
  return stream === 'stdout' ? STDOUT_SEVERITY : STDERR_SEVERITY;
}

/** A severity given as a name (`err`, `warning`, `error`, ...) or a number 0-7; null when it is neither. */
export function parseSeverity(v: string): number | null {
  const s = v.trim().toLowerCase();
  if (/^[0-7]$/.test(s)) return Number(s);
  const i = (SEVERITIES as readonly string[]).indexOf(s);
  if (i >= 0) return i;
  return ALIASES[s] ?? null;
}

/** A facility given as a name (`daemon`, `local0`, ...) or a number 0-23; null when it is neither. */
export function parseFacility(v: string): number | null {
  const s = v.trim().toLowerCase();
  if (/^\d{1,2}$/.test(s) && Number(s) <= 23) return Number(s);
  const i = (FACILITIES as readonly string[]).indexOf(s);
  return i >= 0 ? i : null;
}

export function severityName(n: number): string {
  return SEVERITIES[n] ?? String(n);
}

export function facilityName(n: number): string {
  return FACILITIES[n] ?? String(n);
}

/** Facility number of an entry whose source did not say (stored: FACILITY_UNKNOWN * 8 + severity). */
export const FACILITY_UNKNOWN = 24;

/** An entry's priority as the store keeps it in one byte: facility * 8 + severity. */
export function packPri(severity: number, facility: number | null): number {
  return (facility ?? FACILITY_UNKNOWN) * 8 + (severity & 7);
}

export function severityOf(pri: number): number {
  return pri & 7;
}

/** The facility, or null when the source did not say. */
export function facilityOf(pri: number): number | null {
  const f = pri >> 3;
  return f >= FACILITY_UNKNOWN ? null : f;
}

/**
 * The priority a `<N>` line prefix (journald's stream protocol, kmsg) stands for: N's severity,
 * and its facility when N says one (N >= 8); a bare level (`<3>`) keeps the source's facility
 * (null: unknown).
 */
export function priOfPrefix(n: number, facility: number | null = null): number {
  return packPri(n & 7, n >= 8 ? n >> 3 : facility);
}

/** A syslog PRI (RFC 5424: facility * 8 + severity, 0-191): both known, kern (0) included. */
export function priOfSyslog(n: number): number {
  return packPri(n & 7, n >> 3);
}

/**
 * A severity filter as journalctl's `-p` takes it: one level (`err`: err and everything more
 * severe, 0-3) or a range `FROM..TO` of names or numbers in either order (`warning..err`: 3-4).
 * As [most severe, least severe]; null when it is not one.
 */
export function parseSeverityRange(v: string): [number, number] | null {
  const dots = v.indexOf('..');
  if (dots < 0) {
    const s = parseSeverity(v);
    return s === null ? null : [0, s];
  }
  const a = parseSeverity(v.slice(0, dots));
  const b = parseSeverity(v.slice(dots + 2));
  if (a === null || b === null) return null;
  return a <= b ? [a, b] : [b, a];
}

/** A request's `priority` (a severity N: 0-N, or [from, to]) as [most severe, least severe]; null when malformed. */
export function priorityBounds(p: unknown): [number, number] | null {
  const ok = (n: unknown): n is number => typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= 7;
  if (ok(p)) return [0, p];
  if (Array.isArray(p) && p.length === 2 && ok(p[0]) && ok(p[1]) && p[0] <= p[1]) return [p[0], p[1]];
  return null;
}
