// RFC 3164 (BSD syslog) messages: `<PRI>Mmm dd hh:mm:ss HOSTNAME TAG: MSG` (section 4.1). The
// timestamp has no year and no zone (section 4.1.2); memlogd's times are UTC and are written as
// such (a LinuxKit VM runs in UTC). There is no structured data: the memlogd instance and seq
// that RFC 5424 messages carry are not in these. Pure.

import { pri, type SyslogFields } from './rfc5424.js';

const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];

/** `Nov  1 05:27:11` from `2026-11-01T05:27:11.79Z`: the day is space-padded (section 4.1.2). */
export function timestamp3164(time: string): string {
  const month = MONTHS[Number(time.slice(5, 7)) - 1] ?? 'Jan';
  const day = time.slice(8, 10);
  return `${month} ${day[0] === '0' ? ' ' + day[1] : day} ${time.slice(11, 19)}`;
}

/** Everything of the message before MSG (no trailing space); the TAG (f.appName) ends with `:`. */
export function header3164(f: Pick<SyslogFields, 'facility' | 'severity' | 'time' | 'hostname' | 'appName'>): string {
  return `<${pri(f.facility, f.severity)}>${timestamp3164(f.time)} ${f.hostname} ${f.appName}:`;
}
