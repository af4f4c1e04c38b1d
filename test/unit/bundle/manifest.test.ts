import { describe, expect, it } from 'vitest';
import {
  commandLine, defaultStem, manifestItem, sidecarLine, stemOf, summarize, type ManifestItem,
} from '../../../lib/bundle/manifest.js';

const item = (over: Partial<ManifestItem>): ManifestItem => ({
  path: 'x', source: { type: 'file', path: '/x' }, status: 'ok', durationMs: 1, truncated: false, redactions: {}, ...over,
});

describe('manifest', () => {
  it('sums up the items: statuses, cuts, bytes and masks by rule', () => {
    const s = summarize([
      item({ size: 10, redactions: { 'secret-value': 2 } }),
      item({ size: 5, truncated: true, redactions: { 'secret-value': 1, 'private-key': 1 } }),
      item({ status: 'skipped', reason: 'over --max-size' }),
      item({ status: 'failed', reason: 'time limit of 1s reached' }),
    ]);
    expect(s).toEqual({ items: 4, ok: 2, skipped: 1, failed: 1, truncated: 1, bytes: 15, redactions: { 'secret-value': 3, 'private-key': 1 } });
  });

  it('writes an item\'s keys in the documented order, leaving out what it does not have', () => {
    const i = manifestItem({ redactions: {}, truncated: false, durationMs: 3, status: 'failed', reason: 'r', source: { type: 'command', command: 'df -h' }, path: 'system/df.txt' });
    expect(Object.keys(i)).toEqual(['path', 'source', 'status', 'durationMs', 'truncated', 'redactions', 'reason']);
  });

  it('writes the sidecar as sha256sum does', () => {
    expect(sidecarLine('ab'.repeat(32), 'b.tar.gz')).toBe(`${'ab'.repeat(32)}  b.tar.gz\n`);
  });

  it('quotes a command line as a shell would take it', () => {
    expect(commandLine(['ip', 'addr', 'show'])).toBe('ip addr show');
    expect(commandLine(['sh', '-c', "echo 'a b'"])).toBe(`sh -c 'echo '\\''a b'\\'''`);
  });

  it('names the archive after the host and the UTC time, safe as a file name', () => {
    expect(defaultStem('vm-1.local', new Date(Date.UTC(2026, 10, 21, 5, 40, 1, 123)))).toBe('logbundle-vm-1.local-20261121T054001Z');
    expect(defaultStem('a/b c', new Date(0))).toBe('logbundle-a_b_c-19700101T000000Z');
    expect(stemOf('x.tar.gz')).toBe('x');
    expect(stemOf('x.tgz')).toBe('x');
  });
});
