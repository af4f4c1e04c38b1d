import { describe, expect, it } from 'vitest';
import { countsOf, dumpNdjson, dumpText, parseDump, redactDump } from '../../../lib/bundle/dump.js';
import { MASK, PEM_RULE, Redactor } from '../../../lib/bundle/redact.js';
import { encodeEnd, encodeEntry, encodeGap, encodeStart, type V2Entry } from '../../../lib/protocol/v2.js';
import { PEM_LINES } from '../../support/secrets.js';

const R = Redactor.of(false, []);
let seq = 0;
const entry = (source: string, msg: string, partial = false): V2Entry => ({
  seq: seq++, time: `2026-11-21T05:40:00.${String(seq).padStart(3, '0')}5Z`, source, stream: source.endsWith('.out') ? 'stdout' : 'stderr', msg,
  ...(partial ? { partial: true } : {}),
});
const lines = (es: V2Entry[]) => [encodeStart('ab12', 0, es.length), ...es.map((e) => encodeEntry(e)!), encodeEnd(es.length)];
const msgs = (text: string, source: string) => text.split('\n').filter(Boolean).map((l) => JSON.parse(l))
  .filter((r) => r.source === source).map((r) => r.msg);

describe('redactDump', () => {
  it('masks a PEM key printed one line per entry, with other sources in between, and nothing of the others', () => {
    const es: V2Entry[] = [];
    PEM_LINES.forEach((l, i) => {
      es.push(entry('web.out', l));
      es.push(entry('db', i === 2 ? 'MIIBOgIBAAJBAKj34GkxFhD90vcNLYLInFEX6Ppy1tPf9Cnzj4p4WGeKLs1Pt8Qu' : `db line ${i}`));
    });
    es.push(entry('web.out', 'after the key'));
    const d = parseDump(lines(es));
    const counts = redactDump(d, R);
    const out = dumpNdjson(d);
    expect(msgs(out, 'web.out')).toEqual([...PEM_LINES.map(() => MASK), 'after the key']);
    // the base64-looking db line is not part of web.out's block
    expect(msgs(out, 'db')).toEqual(es.filter((e) => e.source === 'db').map((e) => e.msg));
    expect(countsOf(counts)).toEqual({ [PEM_RULE]: 1 });
    expect(countsOf(counts, (s) => s === 'db')).toEqual({});
  });

  it('masks a secret cut across the pieces of a long line once, keeping the pieces', () => {
    const es = [entry('svc', 'connect password=hun', true), entry('other', 'x'), entry('svc', 'ter2 ok', false)];
    const d = parseDump(lines(es));
    redactDump(d, R);
    expect(msgs(dumpNdjson(d), 'svc')).toEqual([`connect password=${MASK}`, ' ok']);
    const pieces = dumpNdjson(d).split('\n').filter(Boolean).map((l) => JSON.parse(l)).filter((r) => r.source === 'svc');
    expect(pieces.map((p) => p.partial)).toEqual([true, undefined]);
  });

  it('keeps unchanged lines byte for byte and writes changed ones as memlogd would', () => {
    const es = [entry('a', 'plain <b> & "q"'), entry('a.out', 'token=é<x>')];
    const d = parseDump(lines(es));
    redactDump(d, R);
    const out = dumpNdjson(d).split('\n');
    expect(out[1]).toBe(encodeEntry(es[0]));
    expect(out[2]).toBe(encodeEntry({ ...es[1], msg: `token=${MASK}` }));
    expect(out[2]).not.toContain('<');
  });

  it('masks a line that is not a record as text', () => {
    const d = parseDump(['{"seq":1,"broken password=x']);
    expect(countsOf(redactDump(d, R))).toEqual({ 'secret-value': 1 });
    expect(dumpNdjson(d)).toBe(`{"seq":1,"broken password=${MASK}\n`);
  });
});

describe('parseDump and the text renderings', () => {
  it('knows whether the answer started, ended or was refused', () => {
    expect(parseDump([encodeStart('a', 0, 0), encodeEnd(0)])).toMatchObject({ started: true, complete: true, error: null });
    expect(parseDump([encodeStart('a', 0, 0)])).toMatchObject({ started: true, complete: false });
    expect(parseDump(['{"type":"error","code":"ERR_ACCESS_DENIED","message":"uid 5"}']).error).toEqual({ code: 'ERR_ACCESS_DENIED', message: 'uid 5' });
  });

  it('renders entries as logread does, gaps stamped with the given time, or one source only', () => {
    const e1 = entry('k;msg', 'one');
    const e2 = entry('kmsg', 'two');
    const d = parseDump([encodeStart('a', 0, 9), encodeEntry(e1)!, encodeGap({ from: 3, to: 4, count: 2, reason: 'evicted' }), encodeEntry(e2)!, encodeEnd(9)]);
    const now = Date.UTC(2026, 10, 21, 6, 0, 0);
    expect(dumpText(d, now)).toBe(`${e1.time};k\\;msg;one\n2026-11-21T06:00:00Z;memlogd;gap: 2 entries (seq 3-4) evicted earlier to make room\n${e2.time};kmsg;two\n`);
    expect(dumpText(d, now, (s) => s === 'kmsg')).toBe(`${e2.time};kmsg;two\n`);
  });
});

describe('redactDump and evictions', () => {
  it('masks what is left of a key whose first lines memlogd evicted', () => {
    const es = PEM_LINES.slice(2).map((l) => entry('k.out', l));
    const d = parseDump([encodeStart('ab', 10, 20), encodeGap({ from: 0, to: 9, count: 10, reason: 'evicted' }), ...es.map((e) => encodeEntry(e)!), encodeEnd(20)]);
    expect(countsOf(redactDump(d, R))).toEqual({ [PEM_RULE]: 1 });
    expect(msgs(dumpNdjson(d), 'k.out')).toEqual(es.map(() => MASK));
  });
});
