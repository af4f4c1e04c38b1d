import { describe, expect, it } from 'vitest';
import { MASK, PEM_RULE, Redactor, mask, userRules } from '../../../lib/bundle/redact.js';
import { PEM_LINES } from '../../support/secrets.js';

const R = Redactor.of(false, []);
const red = (s: string, r = R) => r.text(s).text;


describe('default rules', () => {
  it.each([
    ['password=hunter2 user=bob', `password=${MASK} user=bob`],
    ['DB_PASSWORD=hunter2', `DB_PASSWORD=${MASK}`],
    ['connecting with token=abc.def&next=1', `connecting with token=${MASK}&next=1`],
    ['client_secret: s3cr3t', `client_secret: ${MASK}`],
    ['aws_secret_access_key = wJalrXUtnFEMI/K7MDENG', `aws_secret_access_key = ${MASK}`],
    ['{"password":"hunter 2","user":"bob"}', `{"password":"${MASK}","user":"bob"}`],
    [String.raw`{"msg":"cfg {\"api_key\":\"k-123\"}"}`, String.raw`{"msg":"cfg {\"api_key\":\"${MASK}\"}"}`],
    ["passphrase='a b c'", `passphrase='${MASK}'`],
    ['Authorization: Bearer eyJhbGciOi.xyz', `Authorization: Bearer ${MASK}`],
    ['authorization: Basic dXNlcjpwYXNz', `authorization: Basic ${MASK}`],
    ['curl -H "Bearer abcdefgh12345"', `curl -H "Bearer ${MASK}"`],
    ['postgres://admin:pa55@db:5432/x', `postgres://admin:${MASK}@db:5432/x`],
    ['key id AKIAIOSFODNN7EXAMPLE used', `key id ${MASK} used`],
    ['google AIzaSyA1234567890abcdefghijklmnopqrstuv', `google ${MASK}`],
    ['gh ghp_0123456789abcdefghijklmnopqrstuvwxyzAB done', `gh ${MASK} done`],
    ['app --db-password hunter2 --verbose', `app --db-password ${MASK} --verbose`],
    ['app --token=abc --verbose', `app --token=${MASK} --verbose`],
  ])('%s', (input, out) => {
    expect(red(input)).toBe(out);
  });

  it('leaves ordinary lines alone', () => {
    for (const s of ['GET /index.html 200', 'password_file=/run/secrets/db', 'max_tokens 5', '--token-file /run/t', 'sort key=name', 'PWD=/root']) {
      expect(red(s)).toBe(s);
    }
  });

  it('counts what it masked, by rule, once per secret', () => {
    expect(R.text('Authorization: Bearer abcdefgh12345 password=x').counts).toEqual({ authorization: 1, 'secret-value': 1 });
  });

  it('masks every line of a text, line by line', () => {
    expect(red('a password=1\nb\nc token=2\n')).toBe(`a password=${MASK}\nb\nc token=${MASK}\n`);
  });
});

describe('PEM private-key blocks', () => {
  it('masks every line of a block in one text, and counts the block once', () => {
    const r = R.text(['before', ...PEM_LINES, 'after'].join('\n'));
    expect(r.text).toBe(['before', ...PEM_LINES.map(() => MASK), 'after'].join('\n'));
    expect(r.counts).toEqual({ [PEM_RULE]: 1 });
  });

  it('follows a block across calls with one state (one entry per line)', () => {
    const state = { inBlock: false };
    const out = PEM_LINES.map((l) => R.text(l, state).text);
    expect(out).toEqual(PEM_LINES.map(() => MASK));
    expect(state.inBlock).toBe(false);
    expect(R.text('ordinary line', state).text).toBe('ordinary line');
  });

  it('masks the key part of logwrite lines (time and source before each line)', () => {
    const text = PEM_LINES.map((l) => `2026-11-21T05:40:00Z web.out ${l}`).join('\n');
    expect(R.text(text).text).toBe(PEM_LINES.map(() => `2026-11-21T05:40:00Z web.out ${MASK}`).join('\n'));
  });

  it('masks a key written on one line (JSON-escaped newlines)', () => {
    const s = `{"key":"${PEM_LINES.join('\\n')}\\n"}`;
    expect(R.text(s).text).toBe(`{"key":"${MASK}\\n"}`);
  });

  it('ends a block that lost its END line at the first line that is not key material', () => {
    const r = R.text([PEM_LINES[0], PEM_LINES[1], 'service started on port 8080', 'token=x'].join('\n'));
    expect(r.text).toBe([MASK, MASK, 'service started on port 8080', `token=${MASK}`].join('\n'));
  });

  it('keeps an encrypted key\'s headers and blank line inside the block', () => {
    const lines = ['-----BEGIN ENCRYPTED PRIVATE KEY-----', 'Proc-Type: 4,ENCRYPTED', 'DEK-Info: AES-128-CBC,ABC', '', 'MIIB', '-----END ENCRYPTED PRIVATE KEY-----'];
    expect(R.text(lines.join('\n')).text).toBe([MASK, MASK, MASK, '', MASK, MASK].join('\n'));
  });

  it('does not touch certificates (public)', () => {
    const cert = '-----BEGIN CERTIFICATE-----\nMIIB\n-----END CERTIFICATE-----';
    expect(red(cert)).toBe(cert);
  });
});

describe('--redact and --no-redact', () => {
  it('masks the whole match of each user pattern, counted per pattern', () => {
    const r = Redactor.of(false, ['hunter\\d', 'acct-[0-9]+']);
    expect(r.text('pw hunter2 for acct-42').text).toBe(`pw ${MASK} for ${MASK}`);
    expect(r.text('pw hunter2 for acct-42').counts).toEqual({ 'pattern-1': 1, 'pattern-2': 1 });
  });

  it('--no-redact turns the defaults off, user patterns still apply', () => {
    const r = Redactor.of(true, ['acct-[0-9]+']);
    expect(r.text(`password=x acct-1\n${PEM_LINES.join('\n')}`).text).toBe(`password=x ${MASK}\n${PEM_LINES.join('\n')}`);
    expect(Redactor.of(true, []).active).toBe(false);
  });

  it('a bad pattern is a usage error', () => {
    expect(() => userRules(['a('])).toThrow(expect.objectContaining({ code: 'ERR_USAGE' }));
  });

  it('a pattern that matches the empty string masks nothing', () => {
    expect(Redactor.of(true, ['x*']).text('abc').text).toBe('abc');
  });
});

describe('mask', () => {
  it('masks a secret once, in the piece where it starts', () => {
    const text = 'aaSECRETbb';
    const ranges = [{ start: 2, end: 8, rule: 'r', counted: true }];
    expect([mask(text, ranges, 0, 5), mask(text, ranges, 5, 10)]).toEqual([`aa${MASK}`, 'bb']);
    expect(mask(text, ranges, 0, 10)).toBe(`aa${MASK}bb`);
  });
});

describe('PEM blocks in logwrite JSON lines', () => {
  it('masks the msg of every line of the block', () => {
    const line = (seq: number, msg: string) => JSON.stringify({ seq, time: `2026-11-21T05:40:0${seq}.5Z`, source: 'k.out', stream: 'stdout', msg });
    const text = [...PEM_LINES.map((l, i) => line(i, l)), line(9, 'ok')].join('\n');
    const out = R.text(text).text.split('\n').map((l) => JSON.parse(l).msg);
    expect(out).toEqual([...PEM_LINES.map(() => MASK), 'ok']);
  });
});

describe('PEM blocks cut in two', () => {
  it('masks the key lines before an END whose BEGIN is elsewhere (a rotation, an eviction)', () => {
    const prefix = '2026-11-21T05:40:01Z web.out ';
    const text = ['2026-11-21T05:40:01Z web.out started', ...PEM_LINES.slice(3).map((l) => prefix + l), prefix + 'after'].join('\n');
    expect(R.text(text).text).toBe(['2026-11-21T05:40:01Z web.out started', ...PEM_LINES.slice(3).map(() => prefix + MASK), prefix + 'after'].join('\n'));
    expect(R.text(text).counts).toEqual({ [PEM_RULE]: 1 });
  });

  it('masks the first part to its end (the block goes on in the next file)', () => {
    expect(R.text(PEM_LINES.slice(0, 3).join('\n')).text).toBe([MASK, MASK, MASK].join('\n'));
  });
});
