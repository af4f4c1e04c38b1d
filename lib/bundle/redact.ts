// Redaction: finding secrets in text and masking them. One Redactor is built per bundle and every
// text item goes through it, so the same shape is masked the same way everywhere (sos keeps
// redaction a separate, consistent pass for this reason). Rules see one line at a time, except PEM
// private-key blocks: a key printed by a container reaches memlogd as one entry per line, so the
// block state is carried from line to line in a PemState, one per stream of lines (per source).
// Pure: no I/O.

import { UsageError } from '../protocol/errors.js';

/** What a secret is replaced with. */
export const MASK = '[REDACTED]';

/** Secrets masked, by rule name. */
export type Counts = Record<string, number>;

export interface Rule {
  name: string;
  /** Global; with the `d` flag when groups are given. */
  re: RegExp;
  /** The capture groups that hold the secret (the first that matched is masked); none: the whole match. */
  groups?: number[];
}

/** A part of a text to mask; counted: it is a secret of its own (not a further line of a PEM block). */
export interface Range {
  start: number;
  end: number;
  rule: string;
  counted: boolean;
}

/** Where a stream of lines is with respect to PEM blocks. */
export interface PemState {
  inBlock: boolean;
  /** Where the key material starts on a line of the block: where BEGIN stood on its line. */
  column?: number;
}

// Names whose value is a secret when followed by `=` or `:`: `password=`, `DB_PASSWORD: `,
// `"api_key": "..."`, `aws_secret_access_key = ...`. Only the value is masked, so the line still
// says which setting it was. `key` alone and `auth` are left out: they name too many harmless
// things (`sort key`, `auth: enabled`).
const SECRET_NAMES = 'passw(?:or)?d|passphrase|secret|token|api[_-]?key|access[_-]?key|private[_-]?key|account[_-]?key|credentials?';
// The value: double-quoted, single-quoted, double-quoted inside a JSON string (\"...\"), or bare
// up to white space, a quote, `&` (the next URL query parameter) or a backslash (an escape).
const VALUE = String.raw`(?:"([^"\r\n]*)"|'([^'\r\n]*)'|\\"((?:[^"\\\r\n])*)\\"|([^\s"'&\\]+))`;

/** The usual secret shapes: what `--no-redact` turns off. */
export const DEFAULT_RULES: readonly Rule[] = [
  {
    name: 'secret-value',
    re: new RegExp(String.raw`(?:${SECRET_NAMES})(?:\\?["'])?[ \t]*[:=][ \t]*${VALUE}`, 'dgi'),
    groups: [1, 2, 3, 4],
  },
  {
    // `--password hunter2`, `--token abc` on command lines (with `=` the rule above takes it)
    name: 'secret-option',
    re: /(?<![\w-])--?[\w-]*(?:passw(?:or)?d|passphrase|secret|token|api-key|access-key)[ \t]+([^\s-]\S*)/dgi,
    groups: [1],
  },
  {
    // RFC 7235: `Authorization: <scheme> <credentials>`
    name: 'authorization',
    re: /\b(?:proxy-)?authorization(?:\\?["'])?[ \t]*[:=][ \t]*(?:(?:bearer|basic|digest|negotiate|token|bot)[ \t]+)?([^\s"'\\]+)/dgi,
    groups: [1],
  },
  { name: 'bearer-token', re: /\bbearer[ \t]+([A-Za-z0-9._~+/-]+=*)/dgi, groups: [1] },
  // scheme://user:password@host
  { name: 'url-password', re: /\b[a-z][a-z0-9+.-]*:\/\/[^\s:/@]+:([^\s@/]+)@/dgi, groups: [1] },
  // AWS access key ids: AKIA (long-term) and ASIA (temporary) followed by 16 characters (AWS IAM
  // documentation, "Unique identifier prefixes")
  { name: 'aws-access-key-id', re: /\b(?:AKIA|ASIA)[A-Z0-9]{16}\b/g },
  // Google API keys: AIza and 35 characters
  { name: 'google-api-key', re: /\bAIza[0-9A-Za-z_-]{35}(?![0-9A-Za-z_-])/g },
  // GitHub tokens: ghp_, gho_, ghu_, ghs_, ghr_ and at least 36 characters
  { name: 'github-token', re: /\bgh[pousr]_[A-Za-z0-9]{36,}\b/g },
  { name: 'slack-token', re: /\bxox[abposr]-[A-Za-z0-9-]{10,}/g },
  // JSON Web Tokens: three base64url parts, the first a JSON object (`{"` is `eyJ`)
  { name: 'jwt', re: /\beyJ[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}\.[A-Za-z0-9_-]{8,}/g },
];

/** The rule name PEM private-key blocks are counted under. */
export const PEM_RULE = 'private-key';

// `-----BEGIN RSA PRIVATE KEY-----`, `OPENSSH`, `EC`, `ENCRYPTED`, `PGP PRIVATE KEY BLOCK`...
const PEM_BEGIN = /-----BEGIN (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;
const PEM_END = /[A-Za-z0-9+/=]*-----END (?:[A-Z0-9]+ )*PRIVATE KEY(?: BLOCK)?-----/;
/** A body line: base64 to the end of the line, or of a JSON string. */
const PEM_BODY = /^[A-Za-z0-9+/]+={0,2}(?=[ \t]*$|")/;
/** The headers of an encrypted PEM (RFC 1421). */
const PEM_HEADER = /^(?:Proc-Type|DEK-Info|Comment|Version|Hash):[^"]*/;
const JSON_MSG = '"msg":"';
/** The shortest full line of key material looked for above an END without BEGIN. */
const MIN_FULL_LINE = 40;

/** The rules of `--redact REGEX` (JavaScript syntax; the whole match is masked). Throws a usage error. */
export function userRules(patterns: readonly string[]): Rule[] {
  return patterns.map((p, i) => {
    let re: RegExp;
    try {
      re = new RegExp(p, 'g');
    } catch (err) {
      throw new UsageError(`--redact: ${(err as Error).message}`);
    }
    return { name: `pattern-${i + 1}`, re };
  });
}

/** Adds b's counts to a. */
export function addCounts(a: Counts, b: Counts): Counts {
  for (const [k, n] of Object.entries(b)) a[k] = (a[k] ?? 0) + n;
  return a;
}

export class Redactor {
  /** withPem: mask PEM private-key blocks (part of the defaults). */
  constructor(readonly rules: readonly Rule[], readonly withPem: boolean) {}

  /** The default rules (unless noDefaults) and the user's patterns. */
  static of(noDefaults: boolean, patterns: readonly string[]): Redactor {
    return new Redactor([...(noDefaults ? [] : DEFAULT_RULES), ...userRules(patterns)], !noDefaults);
  }

  /** Does this redactor change anything at all? */
  get active(): boolean {
    return this.rules.length > 0 || this.withPem;
  }

  /** The secrets in text (lines separated by \n), sorted and merged; state carries PEM blocks across calls. */
  find(text: string, state: PemState = { inBlock: false }): Range[] {
    const found: Range[] = [];
    for (const rule of this.rules) {
      rule.re.lastIndex = 0;
      for (const m of text.matchAll(rule.re)) {
        let start = m.index;
        let end = start + m[0].length;
        if (rule.groups) {
          const g = rule.groups.find((i) => m[i] !== undefined);
          if (g === undefined || !m.indices?.[g]) continue;
          [start, end] = m.indices[g];
        }
        if (end > start) found.push({ start, end, rule: rule.name, counted: true });
      }
    }
    if (this.withPem && (state.inBlock || text.includes('PRIVATE KEY'))) pemRanges(text, state, found);
    return merge(found);
  }

  /** A whole text item: masked, and what was masked. */
  text(text: string, state: PemState = { inBlock: false }): { text: string; counts: Counts } {
    const ranges = this.find(text, state);
    return { text: ranges.length ? mask(text, ranges, 0, text.length) : text, counts: countRanges(ranges) };
  }
}

/** Where the key material of a block line starts: its "msg" in an NDJSON line, else `column`. */
function contentStart(line: string, column: number): number {
  const m = line.startsWith('{') ? line.indexOf(JSON_MSG) : -1;
  return m >= 0 ? m + JSON_MSG.length : Math.min(column, line.length);
}

/** The length of the key material (a base64 line or a header) at the start of content, or 0. */
function keyMaterial(content: string): number {
  return (PEM_BODY.exec(content) ?? PEM_HEADER.exec(content))?.[0].length ?? 0;
}

/**
 * Ranges of the PEM blocks in text, line by line, starting and ending in state. Inside a block,
 * the key material of a line is looked for where BEGIN stood on its line: a logwrite line has its
 * time and source before it, the same width on every line of one source; an NDJSON line has it
 * as its "msg". An END without its BEGIN (the file was rotated in the middle of the key, or
 * memlogd evicted its first lines) masks the key lines right before it.
 */
function pemRanges(text: string, state: PemState, out: Range[]): void {
  for (let s = 0; s <= text.length;) {
    let e = text.indexOf('\n', s);
    if (e < 0) e = text.length;
    const line = text.slice(s, e);
    const add = (at: number, from: number, to: number, counted: boolean) => {
      if (to > from) out.push({ start: at + from, end: at + to, rule: PEM_RULE, counted });
    };
    const end = PEM_END.exec(line);
    if (!state.inBlock) {
      const b = PEM_BEGIN.exec(line);
      if (b) {
        const endAfter = PEM_END.exec(line.slice(b.index + b[0].length));
        if (endAfter) add(s, b.index, b.index + b[0].length + endAfter.index + endAfter[0].length, true);
        else {
          // to the end of the line, or of the JSON string the marker is in
          const q = line.indexOf('"', b.index + b[0].length);
          add(s, b.index, q >= 0 ? q : line.trimEnd().length, true);
          state.inBlock = true;
          state.column = b.index;
        }
      } else if (end) {
        add(s, end.index, end.index + end[0].length, true);
        // Walking up: the key's last line may be short, the ones before it are full (64
        // characters in PEM, RFC 7468; 70 in OpenSSH's), which tells them from a short word
        const column = line.indexOf('-----END');
        for (let ps = s, k = 0; ps > 0; k++) {
          const pe = ps - 1;
          ps = text.lastIndexOf('\n', pe - 1) + 1;
          const prev = text.slice(ps, pe);
          const col = contentStart(prev, column);
          const n = keyMaterial(prev.slice(col));
          if (n === 0 || (k > 0 && n < MIN_FULL_LINE)) break;
          add(ps, col, col + n, false);
        }
      }
    } else {
      const col = contentStart(line, state.column ?? 0);
      const content = line.slice(col);
      const n = end ? 0 : keyMaterial(content);
      if (end) {
        add(s, end.index, end.index + end[0].length, false);
        state.inBlock = false;
      } else if (n > 0) add(s, col, col + n, false);
      // a blank line (between the headers and the body of an encrypted key) keeps the block open;
      // any other line means the block ended without its END line (cut off): nothing more to mask
      else if (content.trim() !== '' && !content.startsWith('"')) state.inBlock = false;
    }
    s = e + 1;
  }
}

/** Sorted, overlapping ranges joined (the first one's rule names the result). */
function merge(ranges: Range[]): Range[] {
  if (ranges.length < 2) return ranges;
  ranges.sort((a, b) => a.start - b.start || b.end - a.end);
  const out: Range[] = [{ ...ranges[0] }];
  for (const r of ranges.slice(1)) {
    const last = out[out.length - 1];
    if (r.start < last.end) last.end = Math.max(last.end, r.end);
    else out.push({ ...r });
  }
  return out;
}

/** How many secrets the ranges are, by rule. */
export function countRanges(ranges: readonly Range[]): Counts {
  const counts: Counts = {};
  for (const r of ranges) if (r.counted) counts[r.rule] = (counts[r.rule] ?? 0) + 1;
  return counts;
}

/**
 * text[from, to) with the ranges masked. A range that starts before `from` (a secret that began
 * in an earlier piece of the same line) masks its part here with nothing: one mask per secret.
 */
export function mask(text: string, ranges: readonly Range[], from: number, to: number): string {
  let out = '';
  let at = from;
  for (const r of ranges) {
    if (r.end <= from || r.start >= to) continue;
    const s = Math.max(r.start, from);
    out += text.slice(at, s) + (r.start >= from ? MASK : '');
    at = Math.min(r.end, to);
  }
  return out + text.slice(at, to);
}
