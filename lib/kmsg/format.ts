// kmsg's output line: the reference's shape, `(<seq>) - <time>: <msg>`, so that what reads
// `kmsg.log` today keeps working, with the level added and the dictionary attached:
// `(1234) - 2026-12-02T01:53:59.566131Z: err: <text> [SUBSYSTEM=acpi DEVICE=+acpi:PNP0A08:00]`.
// Pure.

import { severityName } from '../protocol/severity.js';
import { formatTime } from '../protocol/time.js';
import type { KmsgRecord } from './record.js';

/** RFC3339 in UTC from microseconds since the epoch (trailing zeros trimmed, like every time we print). */
export function formatWallUs(wallUs: number): string {
  const sec = Math.floor(wallUs / 1e6);
  return formatTime(sec, Math.round(wallUs - sec * 1e6) * 1000);
}

/**
 * One record as one line (no newline); dict: attach the dictionary or leave it out; prefix: start
 * with the record's priority as `<N>` (facility * 8 + level, the kernel's own records `<0>`-`<7>`),
 * which memlogd takes off and keeps as the entry's severity (its --level-prefix).
 */
export function formatRecord(rec: KmsgRecord, wallUs: number, dict = true, prefix = false): string {
  const tail = dict && rec.dict.length > 0 ? ` [${rec.dict.join(' ')}]` : '';
  return `${prefix ? `<${rec.prio}>` : ''}(${rec.seq}) - ${formatWallUs(wallUs)}: ${severityName(rec.level)}: ${rec.text}${tail}`;
}

/** The line that reports records the kernel overwrote before kmsg read them. */
export function formatLoss(from: number, to: number, wallUs: number, prefix = false): string {
  const n = to - from + 1;
  // a warning (4) about the kernel's log
  return `${prefix ? '<4>' : ''}(${to}) - ${formatWallUs(wallUs)}: kmsg: lost ${n === 1 ? '1 record' : `${n} records`} (seq ${from}-${to}), overwritten by the kernel before they were read`;
}
