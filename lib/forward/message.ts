// What logforward sends for an entry, a joined line or a gap: one syslog message (RFC 5424 or
// RFC 3164), never longer than the destination's maximum in UTF-8 bytes. Pure.
//
// RFC 5424 messages carry `[<sd-id> instance="<memlogd instance>" seq="<seq>"]`, so a receiver
// can recognise a message it got twice (after a reconnection logforward may send some again).
// A joined line adds `last` (seq of its last piece). A line too long for the maximum keeps its
// beginning and ends with a marker saying how many bytes were left out; a line whose end was
// lost (a gap or a memlogd restart took it) ends with a marker saying that.

import type { Line } from '../client/tracker.js';
import { SELF_SOURCE } from '../protocol/constants.js';
import { gapTextFor } from '../protocol/gap.js';
import { entryFacility, entrySeverity } from '../protocol/severity.js';
import { formatTimeMs } from '../protocol/time.js';
import { streamOf } from '../protocol/v1.js';
import type { GapRecord, V2Entry } from '../protocol/v2.js';
import { APP_NAME_MAX, NameMap, TAG_MAX } from './appname.js';
import type { SyslogFormat } from './options.js';
import { header3164 } from './rfc3164.js';
import { header5424, sdElement, sdValue } from './rfc5424.js';

/** Severity of gap notices: warning (RFC 5424 table 2). */
export const GAP_SEVERITY = 4;
/** MSGID of gap notices (RFC 5424 section 6.2.7). */
export const GAP_MSGID = 'gap';

export interface MessageSettings {
  format: SyslogFormat;
  hostname: string;
  sdId: string;
  /** Facility of entries that carry none. */
  facility: number;
  /** Largest message in bytes. */
  maxSize: number;
}

const NON_ASCII = /[^\x00-\x7f]/;
/** UTF-8 length (Node counts it natively, ~15 times faster than testing for non-ASCII with a RegExp). */
export const byteLength = (s: string) => Buffer.byteLength(s);

/** A message ready to frame: its text and its length in UTF-8 bytes. */
export interface Message {
  text: string;
  bytes: number;
}

const LOST_MARKER = ' [logforward: cut, the rest of this line was lost]';

/** The marker ending a line that was cut: bytes left out, or the rest lost (a gap or a memlogd restart took it). */
export function cutMarker(dropped: number | undefined): string {
  return dropped ? ` [logforward: cut, ${dropped} bytes not sent]` : LOST_MARKER;
}

/** The longest prefix of text whose UTF-8 form fits in max bytes (never half a character). */
export function fitUtf8(text: string, max: number): string {
  if (text.length <= max && !NON_ASCII.test(text)) return text;
  const buf = Buffer.from(text);
  if (buf.length <= max) return text;
  let end = max;
  while (end > 0 && (buf[end] & 0xc0) === 0x80) end--; // back to the start of the character at the cut
  return buf.toString('utf8', 0, end);
}

export class MessageFormatter {
  private readonly names: NameMap;
  private readonly rfc5424: boolean;
  /** `[<sd-id> instance="<instance>" seq="`, for the instance last seen. */
  private sdHead = '';
  private sdInstance = '';

  constructor(private readonly s: MessageSettings) {
    this.rfc5424 = s.format === 'rfc5424';
    this.names = this.rfc5424 ? new NameMap(APP_NAME_MAX) : new NameMap(TAG_MAX, ':[]');
  }

  /** An entry that is a whole line (the common case). */
  entry(e: V2Entry, instance: string): Message {
    let sd = '';
    if (this.rfc5424) {
      if (instance !== this.sdInstance) {
        this.sdInstance = instance;
        this.sdHead = `[${this.s.sdId} instance="${sdValue(instance)}" seq="`;
      }
      sd = `${this.sdHead}${e.seq}"]`;
    }
    return this.build(e.time, e.source, entrySeverity(e.severity, e.stream), entryFacility(e.facility, this.s.facility), '-', sd, e.msg, false, undefined);
  }

  /** A line joined from pieces, possibly cut. */
  line(l: Line, instance: string): Message {
    let sd = '';
    if (this.rfc5424) {
      const params: Array<[string, string | number]> = [['instance', instance], ['seq', l.firstSeq]];
      if (l.lastSeq !== l.firstSeq) params.push(['last', l.lastSeq]);
      sd = sdElement(this.s.sdId, params);
    }
    return this.build(l.time, l.source, entrySeverity(l.severity, streamOf(l.source)), entryFacility(l.facility, this.s.facility), '-', sd,
      l.msg, l.cut === true, l.dropped);
  }

  /** A gap as a message of source memlogd, stamped with logforward's clock. */
  gap(g: GapRecord, instance: string | null, nowMs: number, note?: string): Message {
    const text = gapTextFor('logforward', g, instance, { base: 'send', past: 'sent' }) + (note ? ` (${note})` : '');
    let sd = '';
    if (this.rfc5424) {
      const params: Array<[string, string | number]> = [['instance', instance ?? '-'], ['from', g.from], ['to', g.to], ['count', g.count], ['reason', g.reason]];
      if (g.previous) params.push(['previous', g.previous]);
      sd = sdElement(this.s.sdId, params);
    }
    return this.build(formatTimeMs(nowMs), SELF_SOURCE, GAP_SEVERITY, this.s.facility, GAP_MSGID, sd, text, false, undefined);
  }

  private build(time: string, source: string, severity: number, facility: number, msgId: string, sd: string, msg: string,
    cut: boolean, dropped: number | undefined): Message {
    const appName = this.names.get(source);
    const head = this.rfc5424
      ? header5424({ facility, severity, time, hostname: this.s.hostname, appName, msgId, sd })
      : header3164({ facility, severity, time, hostname: this.s.hostname, appName });
    const room = this.s.maxSize - head.length - 1; // the header is ASCII; 1 for the space before MSG
    let text = msg;
    let bytes = byteLength(msg);
    if (cut || bytes > room) {
      // What does not fit is left out and counted, and the marker says so (maxSize >= 480 leaves it room).
      const lost = cut && !dropped;
      const reserve = (lost && bytes <= room - LOST_MARKER.length ? LOST_MARKER : cutMarker(bytes + (dropped ?? 0))).length;
      const fit = fitUtf8(msg, Math.max(0, room - reserve));
      const left = (dropped ?? 0) + bytes - byteLength(fit);
      text = fit + cutMarker(left > 0 ? left : undefined);
      bytes = byteLength(text);
    }
    return text === '' ? { text: head, bytes: head.length } : { text: `${head} ${text}`, bytes: head.length + 1 + bytes };
  }
}
