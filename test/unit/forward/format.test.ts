// logforward's pure parts: destination URIs, app-name mapping, RFC 5424 / RFC 3164 messages with
// their cut marker, and both framings (octet counting, RELP).

import { describe, expect, it } from 'vitest';
import { mapName, hostnameField, APP_NAME_MAX, TAG_MAX } from '../../../lib/forward/appname.js';
import { FrameBatch, nextTxnr, octetFrame, relpFrame, relpOk, relpResponse, RelpParser, relpSyslogFrame, RELP_MAX_TXNR } from '../../../lib/forward/framing.js';
import { byteLength, cutMarker, fitUtf8, MessageFormatter } from '../../../lib/forward/message.js';
import { checkSdId } from '../../../lib/forward/options.js';
import { timestamp3164 } from '../../../lib/forward/rfc3164.js';
import { sdElement, timestamp5424 } from '../../../lib/forward/rfc5424.js';
import { parseDestination } from '../../../lib/forward/uri.js';
import type { V2Entry } from '../../../lib/protocol/v2.js';

const D = { format: 'rfc5424' as const, facility: 1 };
const T = '2026-11-21T05:27:11.79162168Z';
const entry = (o: Partial<V2Entry> = {}): V2Entry => ({ seq: 41, time: T, source: 'web', stream: 'stderr', msg: 'upstream timeout', ...o });

describe('destination URIs', () => {
  it('reads transport, address, filters and options', () => {
    const d = parseDestination('relp://logs.example:2514?source=web*&source=db&exclude=memlogd&stream=stderr&priority=warning', D);
    expect(d).toMatchObject({
      transport: 'relp', host: 'logs.example', port: 2514, sources: ['web*', 'db'], exclude: ['memlogd'], stream: 'stderr',
      minSeverity: 4, format: 'rfc5424', facility: 1, maxSize: 8192, window: 128, tls: null, label: 'relp://logs.example:2514',
    });
    expect(d.key).toBe('relp://logs.example:2514?source=web*&source=db&exclude=memlogd&stream=stderr&priority=4');
    expect(parseDestination('udp://10.0.0.1', D)).toMatchObject({ port: 514, maxSize: 2048, minSeverity: 7 });
    expect(parseDestination('udp://10.0.0.1?format=rfc3164', D)).toMatchObject({ maxSize: 1024, format: 'rfc3164' });
    expect(parseDestination('tls://h?ca=/c/ca.pem&cert=/c/c.pem&key=/c/k.pem&servername=logs', D).tls)
      .toEqual({ verify: true, ca: '/c/ca.pem', cert: '/c/c.pem', key: '/c/k.pem', servername: 'logs' });
    expect(parseDestination('tls://h:6514', D)).toMatchObject({ port: 6514, tls: { verify: true } });
    expect(parseDestination('tls://h?verify=off', D).tls).toEqual({ verify: false });
    expect(parseDestination('tcp://[::1]:514?maxsize=64k&priority=3&facility=local0&unsure=1M', D))
      .toMatchObject({ host: '::1', label: 'tcp://[::1]:514', maxSize: 65536, minSeverity: 3, facility: 16, unsure: 1 << 20 });
    expect(parseDestination('relp+tls://h:1?window=16&ca=/x', D)).toMatchObject({ transport: 'relp+tls', window: 16, tls: { ca: '/x' } });
    // what decides which messages go there is the key; certificates and formats are not
    expect(parseDestination('tls://h:1?ca=/a&format=rfc3164', D).key).toBe(parseDestination('tls://h:1?ca=/b', D).key);
  });

  it('refuses what it cannot honour, saying why', () => {
    const bad = (u: string) => () => parseDestination(u, D);
    expect(bad('http://h:1')).toThrow(/unknown transport "http"/);
    expect(bad('tcp://h')).toThrow(/no default port/);
    expect(bad('relp://h')).toThrow(/no default port/);
    expect(bad('tcp://h:1?sources=x')).toThrow(/unknown parameter "sources"/);
    expect(bad('tcp://h:1?ca=/x')).toThrow(/ca applies to tls/);
    expect(bad('tcp://h:1?window=3')).toThrow(/RELP only/);
    expect(bad('tcp://h:1?priority=loud')).toThrow(/not a severity/);
    expect(bad('tcp://h:1?stream=both')).toThrow(/stdout or stderr/);
    expect(bad('tcp://h:1?source=[ab')).toThrow(/unclosed/);
    expect(bad('tcp://h:1?maxsize=100')).toThrow(/at least 480/);
    expect(bad('udp://h:1?maxsize=1M')).toThrow(/one datagram/);
    expect(bad('tls://h:1?cert=/c')).toThrow(/cert and key go together/);
    expect(bad('tcp://h:1?format=json')).toThrow(/rfc5424 or rfc3164/);
    expect(bad('tcp://u@h:1')).toThrow(/only host, port/);
    expect(bad('not a uri')).toThrow(/not a URI/);
  });

  it('checks private SD-IDs', () => {
    expect(checkSdId('memlogd@32473')).toBe('memlogd@32473');
    expect(checkSdId('x@1.2.3')).toBe('x@1.2.3');
    for (const v of ['memlogd', 'a b@1', 'a]@1', 'a=b@1', 'a@b', `${'x'.repeat(30)}@123`]) expect(() => checkSdId(v)).toThrow(/SD-ID/);
  });
});

describe('app-name mapping', () => {
  it('keeps printable ASCII, escapes the rest, one-to-one', () => {
    expect(mapName('web.out', APP_NAME_MAX)).toBe('web.out');
    expect(mapName('onboot.a-b_c', APP_NAME_MAX)).toBe('onboot.a-b_c');
    expect(mapName('café au lait', APP_NAME_MAX)).toBe('caf%C3%A9%20au%20lait');
    expect(mapName('100%', APP_NAME_MAX)).toBe('100%25');
    expect(mapName('../etc/x', APP_NAME_MAX)).toBe('%2E.%2Fetc%2Fx');
    expect(mapName('.hidden', APP_NAME_MAX)).toBe('%2Ehidden');
    expect(mapName('', APP_NAME_MAX)).toBe('-');
    expect(mapName('-', APP_NAME_MAX)).toBe('%2D');
    expect(mapName('tab\there', APP_NAME_MAX)).toBe('tab%09here');
    expect(mapName('a:b[1]', TAG_MAX, ':[]')).toBe('a%3Ab%5B1%5D');
  });

  it('cuts long names with a hash, never inside an escape, within the field', () => {
    const long = 'x'.repeat(100);
    const m = mapName(long, APP_NAME_MAX);
    expect(m).toMatch(/^x{36}%~[0-9a-f]{10}$/);
    expect(mapName('x'.repeat(99) + 'y', APP_NAME_MAX)).not.toBe(m);
    expect(mapName(long, APP_NAME_MAX)).toBe(m);
    for (let k = 30; k < 40; k++) {
      const name = 'a'.repeat(k) + 'é'.repeat(10);
      const v = mapName(name, APP_NAME_MAX);
      expect(v.length).toBeLessThanOrEqual(APP_NAME_MAX);
      expect(v).toMatch(/^[!-~]+$/);
      expect(v.replace(/%~[0-9a-f]{10}$/, '')).not.toMatch(/%.?$/);
    }
    expect(mapName('t'.repeat(40), TAG_MAX).length).toBe(TAG_MAX);
    expect(hostnameField('my host')).toBe('my_host');
    expect(hostnameField('')).toBe('-');
  });
});

describe('RFC 5424 and RFC 3164 messages', () => {
  const fmt = (o: Partial<ConstructorParameters<typeof MessageFormatter>[0]> = {}) =>
    new MessageFormatter({ format: 'rfc5424', hostname: 'vm1', sdId: 'memlogd@32473', facility: 1, maxSize: 8192, ...o });

  it('an entry: receive time to the microsecond, severity from the stream or the entry, instance and seq', () => {
    expect(timestamp5424(T)).toBe('2026-11-21T05:27:11.791621Z');
    expect(timestamp5424('2026-11-21T05:27:11.5Z')).toBe('2026-11-21T05:27:11.5Z');
    expect(timestamp5424('2026-11-21T05:27:11Z')).toBe('2026-11-21T05:27:11Z');
    const f = fmt();
    expect(f.entry(entry(), 'ab12').text).toBe('<11>1 2026-11-21T05:27:11.791621Z vm1 web - - [memlogd@32473 instance="ab12" seq="41"] upstream timeout');
    expect(f.entry(entry({ source: 'web.out', stream: 'stdout' }), 'ab12').text).toMatch(/^<14>1 .* web\.out - - /);
    expect(f.entry(entry({ severity: 2, facility: 16 }), 'ab12').text).toMatch(/^<130>1 /);
    expect(f.entry(entry({ severity: 9 as number }), 'ab12').text).toMatch(/^<11>1 /); // invalid: the stream's
    expect(f.entry(entry({ msg: '' }), 'ab12').text).toMatch(/seq="41"\]$/);
    expect(sdElement('x@1', [['a', 'q"b\\c]d'], ['n', 5]])).toBe('[x@1 a="q\\"b\\\\c\\]d" n="5"]');
  });

  it('a joined line carries its last seq; a gap is a warning from memlogd with MSGID gap', () => {
    const f = fmt();
    const l = f.line({ source: 'long', time: T, msg: 'AAAB', firstSeq: 7, lastSeq: 9, pieces: 2 }, 'ab').text;
    expect(l).toMatch(/\[memlogd@32473 instance="ab" seq="7" last="9"\] AAAB$/);
    const g = f.gap({ type: 'gap', from: 10, to: 57, count: 48, reason: 'lagged' }, 'ab', Date.UTC(2026, 10, 21, 6, 0, 0, 250)).text;
    expect(g).toBe('<12>1 2026-11-21T06:00:00.25Z vm1 memlogd - gap [memlogd@32473 instance="ab" from="10" to="57" count="48" reason="lagged"] '
      + 'gap: logforward fell behind and missed 48 entries (seq 10-57); memlogd evicted them before they were sent');
  });

  it('never exceeds the maximum: the beginning is kept and the marker counts the bytes left out', () => {
    const f = fmt({ maxSize: 600 });
    const big = f.entry(entry({ msg: 'é'.repeat(1000) }), 'ab');
    expect(big.bytes).toBeLessThanOrEqual(600);
    expect(Buffer.byteLength(big.text)).toBe(big.bytes);
    const text = big.text;
    const kept = /\] (é*) \[logforward: cut, (\d+) bytes not sent\]$/.exec(text)!;
    expect(Buffer.byteLength(kept[1]) + Number(kept[2])).toBe(2000);
    // a line the tracker already cut: its dropped bytes are added
    const l = f.line({ source: 's', time: T, msg: 'abc', firstSeq: 1, lastSeq: 5, pieces: 5, cut: true, dropped: 1234 }, 'ab').text;
    expect(l).toMatch(/\] abc \[logforward: cut, 1234 bytes not sent\]$/);
    const lost = f.line({ source: 's', time: T, msg: 'abc', firstSeq: 1, lastSeq: 2, pieces: 2, cut: true }, 'ab').text;
    expect(lost).toMatch(/\] abc \[logforward: cut, the rest of this line was lost\]$/);
    for (const n of [0, 1, 450, 470, 480, 2000]) {
      const m = f.entry(entry({ msg: 'x'.repeat(n) }), 'ab');
      expect(m.bytes).toBeLessThanOrEqual(600);
      expect(Buffer.byteLength(m.text)).toBe(m.bytes);
    }
    expect(fitUtf8('aé', 2)).toBe('a');
    expect(cutMarker(5)).toBe(' [logforward: cut, 5 bytes not sent]');
  });

  it('RFC 3164: BSD timestamp, TAG, no structured data', () => {
    expect(timestamp3164('2026-11-01T05:27:11.79Z')).toBe('Nov  1 05:27:11');
    expect(timestamp3164('2026-01-21T23:00:00Z')).toBe('Jan 21 23:00:00');
    const f = fmt({ format: 'rfc3164', maxSize: 1024 });
    expect(f.entry(entry({ source: 'web:1' }), 'ab').text).toBe('<11>Nov 21 05:27:11 vm1 web%3A1: upstream timeout');
  });
});

describe('framing', () => {
  it('octet counting counts bytes', () => {
    expect(octetFrame('é', byteLength('é'))).toBe('2 é');
    expect(relpSyslogFrame(7, 'hé', 3)).toBe('7 syslog 3 hé\n');
    expect([relpOk(Buffer.from('200 OK')), relpOk(Buffer.from('200')), relpOk(Buffer.from('500 no')), relpOk(Buffer.from('2000'))]).toEqual([true, true, false, false]);
  });

  it('a batch of frames counts the bytes they take on the wire and the connection offset', () => {
    const b = new FrameBatch();
    b.push(octetFrame('é', 2), 'é', 2);
    b.push(octetFrame('ab', 2), 'ab', 2);
    expect([b.bytes, b.offset]).toEqual([8, 8]);
    expect(b.take()).toBe('2 é2 ab');
    expect([b.bytes, b.written, b.offset, b.take()]).toEqual([0, 8, 8, null]);
  });

  it('RELP frames, both ways, split anywhere', () => {
    expect(relpFrame(1, 'open', 'relp_version=0').toString()).toBe('1 open 14 relp_version=0\n');
    expect(relpFrame(3, 'close').toString()).toBe('3 close 0\n');
    expect(nextTxnr(RELP_MAX_TXNR)).toBe(1);
    expect(nextTxnr(5)).toBe(6);
    const wire = Buffer.from('1 rsp 93 200 OK\nrelp_version=0\nrelp_software=librelp,1.11.0,http://librelp.adiscon.com\ncommands=syslog\n2 rsp 6 200 OK\n3 rsp 0\n0 serverclose 0\n');
    for (let cut = 0; cut <= wire.length; cut++) {
      const p = new RelpParser();
      const frames = [...p.push(wire.subarray(0, cut)), ...p.push(wire.subarray(cut))];
      expect(frames.map((f) => [f.txnr, f.command, f.data.length])).toEqual([[1, 'rsp', 93], [2, 'rsp', 6], [3, 'rsp', 0], [0, 'serverclose', 0]]);
    }
    expect(relpResponse(Buffer.from('200 OK\ncommands=syslog'))).toEqual({ code: 200, text: 'OK\ncommands=syslog' });
    expect(relpResponse(Buffer.from('500 command disabled'))).toEqual({ code: 500, text: 'command disabled' });
    expect(relpResponse(Buffer.alloc(0)).code).toBe(0);
    for (const junk of ['HTTP/1.1 400 Bad', '1 rsp x', '1 rsp 5\n', '1 rsp 0 x', '1 rsp 2 okX']) {
      expect(() => new RelpParser().push(Buffer.from(junk + '\n'.repeat(3))), junk).toThrow(/RELP/);
    }
    expect(() => new RelpParser(10).push(Buffer.from('1 rsp 11 '))).toThrow(/larger/);
  });
});
