// RFC 5424 messages: `<PRI>1 TIMESTAMP HOSTNAME APP-NAME PROCID MSGID STRUCTURED-DATA [SP MSG]`
// (section 6). The fields arrive valid (app-name mapped, hostname checked); this module only
// assembles them. Pure.

export interface SyslogFields {
  facility: number;
  severity: number;
  /** memlogd's receive time (RFC3339Nano, UTC). */
  time: string;
  hostname: string;
  appName: string;
  /** MSGID, `-` when none. */
  msgId: string;
  /** STRUCTURED-DATA, `-` when none. */
  sd: string;
}

/** PRI = facility * 8 + severity (section 6.2.1). */
export function pri(facility: number, severity: number): number {
  return facility * 8 + severity;
}

/**
 * TIMESTAMP (section 6.2.3): memlogd's RFC3339Nano time with at most 6 fractional digits
 * (TIME-SECFRAC = "." 1*6DIGIT); extra digits are truncated, not rounded, so a time never moves
 * into the next second.
 */
export function timestamp5424(time: string): string {
  if (time === last.time) return last.ts; // a chunk of lines shares its receive time
  const dot = time.indexOf('.', 19);
  // no fraction, or at most 6 digits before the Z
  const ts = dot < 0 || time.length - dot - 2 <= 6 ? time : time.slice(0, dot + 7) + time.slice(time.length - 1);
  last.time = time;
  last.ts = ts;
  return ts;
}
const last = { time: '', ts: '' };

/** Escapes a PARAM-VALUE: `"`, `\` and `]` get a backslash (section 6.3.3). */
export function sdValue(v: string): string {
  return /["\\\]]/.test(v) ? v.replace(/["\\\]]/g, '\\$&') : v;
}

/** One SD-ELEMENT: `[id name="value" ...]` (section 6.3.1). */
export function sdElement(id: string, params: Array<[string, string | number]>): string {
  let s = '[' + id;
  for (const [k, v] of params) s += ` ${k}="${typeof v === 'number' ? v : sdValue(v)}"`;
  return s + ']';
}

/** Everything of the message before MSG (no trailing space). */
export function header5424(f: SyslogFields): string {
  return `<${pri(f.facility, f.severity)}>1 ${timestamp5424(f.time)} ${f.hostname} ${f.appName} - ${f.msgId} ${f.sd}`;
}
