// logbundle, the built binary, against a live memlogd and a logwrite directory: the archive is
// extracted with the system tar, every checksum in manifest.json and the sidecar is verified, and
// secrets seeded through a container's output, a rotated .gz file and a process command line are
// checked to be masked everywhere. Then without memlogd, with a memlogd that never answers, and
// to stdout.

import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import fs from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import zlib from 'node:zlib';
import { describe, expect, it } from 'vitest';
import type { Manifest } from '../../lib/bundle/manifest.js';
import { MASK } from '../../lib/bundle/redact.js';
import { encodeEntry, encodeStart } from '../../lib/protocol/v2.js';
import { BIN, exited, handOff, runBin, startDaemon, waitFor } from '../support/helpers.js';
import { Feed, filesOf, linesOf, startLogwrite, useCleanups } from '../support/logwrite.js';
import { PEM_LINES } from '../support/secrets.js';

const { track, tmpDir, defer } = useCleanups();

/** Runs logbundle to completion (a loaded 2-core machine: a generous limit). */
const bundle = (args: string[]) => runBin('logbundle', args, { timeoutMs: 120_000 });

const sha256 = (data: Buffer) => createHash('sha256').update(data).digest('hex');

/** Every file below dir, relative paths. */
function walk(dir: string, rel = ''): string[] {
  return fs.readdirSync(path.join(dir, rel), { withFileTypes: true })
    .flatMap((e) => (e.isDirectory() ? walk(dir, path.join(rel, e.name)) : [path.join(rel, e.name)]));
}

/**
 * Extracts the archive with the system tar and checks it against its manifest and sidecar:
 * owner-only, the sidecar's checksum, one top directory, every item in the manifest with its
 * size and sha256, and nothing in the archive that the manifest does not list.
 */
function extractAndVerify(archive: string): { top: string; manifest: Manifest; read: (p: string) => Buffer } {
  expect(fs.statSync(archive).mode & 0o777).toBe(0o600);
  const side = fs.readFileSync(`${archive}.sha256`, 'utf8');
  expect(side).toBe(`${sha256(fs.readFileSync(archive))}  ${path.basename(archive)}\n`);
  expect(spawnSync('sha256sum', ['-c', `${path.basename(archive)}.sha256`], { cwd: path.dirname(archive) }).status).toBe(0);
  const out = tmpDir();
  const tar = spawnSync('tar', ['-xzf', archive, '-C', out], { encoding: 'utf8' });
  expect(tar.stderr).toBe('');
  expect(tar.status).toBe(0);
  const tops = fs.readdirSync(out);
  expect(tops).toEqual([path.basename(archive).replace(/\.tar\.gz$/, '')]);
  const top = path.join(out, tops[0]);
  const manifest = JSON.parse(fs.readFileSync(path.join(top, 'manifest.json'), 'utf8')) as Manifest;
  const inArchive = walk(top).filter((p) => p !== 'manifest.json').sort();
  const ok = manifest.items.filter((i) => i.status === 'ok');
  expect(inArchive).toEqual(ok.map((i) => i.path).sort());
  for (const i of ok) {
    const data = fs.readFileSync(path.join(top, i.path));
    expect({ path: i.path, size: data.length, sha256: sha256(data) }).toEqual({ path: i.path, size: i.size, sha256: i.sha256 });
  }
  for (const i of manifest.items.filter((x) => x.status !== 'ok')) expect(i.reason, i.path).toMatch(/\S/);
  expect(manifest.summary.items).toBe(manifest.items.length);
  return { top, manifest, read: (p) => fs.readFileSync(path.join(top, p)) };
}

/** The text of an archived item (gunzipped when it is a .gz). */
const textOf = (read: (p: string) => Buffer, p: string) => (p.endsWith('.gz') ? zlib.gunzipSync(read(p)) : read(p)).toString('utf8');

describe('logbundle against a live memlogd and logwrite', () => {
  it('archives everything, checksummed, with the seeded secrets masked in the dump, the text, a rotated .gz and a command line', async () => {
    const d = track(await startDaemon());
    const logDir = tmpDir();
    const lw = track(startLogwrite(['-socket', d.query, '-log-dir', logDir, '-max-log-size', '2000', '-max-log-files', '50', '--compress']));
    // a "container" prints secrets, then enough lines that logwrite rotates them into a .gz
    const web = new Feed(d.log, 'web.out');
    const secrets = ['starting with password=hunter2-web', ...PEM_LINES, 'GET / Authorization: Bearer sekret-bearer-0123456789'];
    const filler = Array.from({ length: 120 }, (_, i) => `filler line ${i} ${'f'.repeat(40)}`);
    web.write([...secrets, ...filler].map((l) => l + '\n').join(''));
    handOff(d.log, 'kmsg', '(7) - 2026-11-21T05:40:00Z: info: eth0: link up\n');
    await waitFor(() => linesOf(logDir, 'web.out').length === secrets.length + filler.length, 'logwrite to write every line');
    await waitFor(() => filesOf(logDir, 'web.out').filter((n) => n.endsWith('.gz')).length >= 2, 'rotated files compressed');
    expect(filesOf(logDir, 'web.out').some((n) => n.endsWith('.gz') && zlib.gunzipSync(fs.readFileSync(path.join(logDir, n))).includes('hunter2-web'))).toBe(true);
    // a process whose command line carries a secret
    const proc = spawn(process.execPath, ['-e', 'setInterval(() => {}, 1e6)', 'api_key=hunter2-cmdline'], { stdio: 'ignore' });
    defer(async () => {
      proc.kill('SIGKILL');
      await exited(proc);
    });
    // logs keep flowing while the bundle is made
    const flow = setInterval(() => web.write(`still flowing ${Date.now()}\n`), 20);
    defer(() => clearInterval(flow));

    const archive = path.join(tmpDir(), 'b.tar.gz');
    const r = await bundle(['-o', archive, '-socket', d.query, '--log-dir', logDir]);
    clearInterval(flow);
    web.close();
    expect(r.stderr).toBe(''); // not a terminal: quiet
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(`${archive}\n`);
    const { top, manifest, read } = extractAndVerify(archive);
    const byPath = new Map(manifest.items.map((i) => [i.path, i]));

    // memlogd's dump: v2 NDJSON with seq, start and end, the PEM key masked line by line
    const dump = textOf(read, 'memlogd/dump.ndjson').split('\n').filter(Boolean).map((l) => JSON.parse(l));
    expect(dump[0]).toMatchObject({ type: 'start' });
    expect(dump.at(-1)).toMatchObject({ type: 'end' });
    const webMsgs = dump.filter((e) => e.source === 'web.out').map((e) => e.msg);
    expect(webMsgs.slice(0, secrets.length)).toEqual([
      `starting with password=${MASK}`, ...PEM_LINES.map(() => MASK), `GET / Authorization: Bearer ${MASK}`,
    ]);
    expect(dump.filter((e) => e.seq !== undefined).every((e, i, a) => i === 0 || e.seq > a[i - 1].seq)).toBe(true);
    expect(byPath.get('memlogd/dump.ndjson')!.redactions).toEqual({ 'secret-value': 1, 'private-key': 1, authorization: 1 });
    // the text rendering is logread's, from the masked entries
    const text = textOf(read, 'memlogd/logread.txt');
    expect(text).toMatch(/^\S+Z;web\.out;starting with password=\[REDACTED\]$/m);
    expect(text).toContain(`;web.out;${MASK}\n`);
    expect(textOf(read, 'kernel/kmsg-memlogd.txt')).toMatch(/;kmsg;\(7\) - 2026-11-21T05:40:00Z: info: eth0: link up\n$/);
    expect(JSON.parse(textOf(read, 'memlogd/stats.json'))).toMatchObject({ type: 'stats' });
    expect(textOf(read, 'memlogd/stats.txt')).toMatch(/^memlogd [0-9a-f]+, up /);

    // the rotated .gz that held the secrets (rotated on since: found by what it holds): decompressed,
    // masked, compressed again
    const gzs = manifest.items.filter((i) => i.path.endsWith('.gz') && textOf(read, i.path).includes(' web.out starting with password='));
    expect(gzs).toHaveLength(1);
    expect(gzs[0]).toMatchObject({ status: 'ok', source: { type: 'file', path: path.join(logDir, gzs[0].path.slice('logs/'.length)) } });
    expect(gzs[0].redactions).toMatchObject({ 'secret-value': 1, 'private-key': 1 });
    const gzText = textOf(read, gzs[0].path);
    expect(gzText).toMatch(/ web\.out starting with password=\[REDACTED\]\n/);
    expect(gzText.split('\n').filter((l) => l.endsWith(` web.out ${MASK}`)).length).toBeGreaterThanOrEqual(1);

    // the process table: the command line is there, its secret masked
    const ps = textOf(read, 'system/processes.txt');
    expect(ps).toMatch(new RegExp(`^\\s*${proc.pid}\\s.*setInterval.* api_key=\\[REDACTED\\]$`, 'm'));
    expect(byPath.get('system/processes.txt')!.redactions['secret-value']).toBeGreaterThanOrEqual(1);

    // no seeded secret anywhere in the archive, gzipped files included
    for (const p of walk(top)) {
      const t = textOf((x) => fs.readFileSync(path.join(top, x)), p);
      for (const s of ['hunter2', 'sekret-bearer', ...PEM_LINES.slice(1, -1)]) expect(t.includes(s), `${s} in ${p}`).toBe(false);
    }
    // commands: their command line, exit status and duration
    expect(byPath.get('system/uname.txt')).toMatchObject({ status: 'ok', source: { type: 'command', command: 'uname -a' }, exitCode: 0 });
    expect(textOf(read, 'system/uname.txt')).toMatch(/^\$ uname -a\nLinux /);
    expect(manifest.items.every((i) => typeof i.durationMs === 'number' && typeof i.truncated === 'boolean')).toBe(true);
    expect(manifest.summary.failed).toBe(0);
    expect(await lw.stop()).toEqual({ code: 0, signal: null });
  });
});

describe('logbundle when parts are missing', () => {
  it('makes the bundle with memlogd stopped, no log directory and no kernel device, and says why in the manifest', async () => {
    const d = await startDaemon();
    const socket = d.query;
    await d.stop();
    const dir = tmpDir();
    const archive = path.join(dir, 'down.tar.gz');
    const r = await bundle(['-o', archive, '-socket', socket, '--log-dir', path.join(dir, 'no-such-dir'), '--kmsg-device', path.join(dir, 'no-kmsg')]);
    expect(r.code).toBe(0);
    expect(r.stderr).toBe('');
    const { manifest } = extractAndVerify(archive);
    const byPath = new Map(manifest.items.map((i) => [i.path, i]));
    expect(byPath.get('memlogd/dump.ndjson')).toMatchObject({ status: 'failed', reason: expect.stringMatching(/cannot connect to memlogd at .*is memlogd running/) });
    expect(byPath.get('memlogd/stats.json')).toMatchObject({ status: 'failed' });
    for (const p of ['memlogd/logread.txt', 'kernel/kmsg-memlogd.txt']) {
      expect(byPath.get(p)).toMatchObject({ status: 'failed', source: { type: 'derived', from: 'memlogd/dump.ndjson' } });
    }
    expect(byPath.get('logs/')).toMatchObject({ status: 'skipped', reason: expect.stringContaining('logwrite never ran') });
    expect(byPath.get('kernel/dev-kmsg.txt')).toMatchObject({ status: 'skipped', reason: expect.stringContaining('no such device') });
    expect(byPath.get('system/proc/meminfo')).toMatchObject({ status: 'ok' });
    expect(manifest.summary.failed).toBe(5);
  });

  it('stops waiting for a memlogd that hangs at the time limit: keeps what came, marked truncated, and still makes the bundle', async () => {
    const dir = tmpDir();
    const socket = path.join(dir, 'q.sock');
    const held: net.Socket[] = [];
    // answers the dump with its start and one entry, then hangs; never answers the stats request
    const server = net.createServer((s) => {
      held.push(s.on('error', () => {}));
      s.once('data', (req) => {
        if (req.toString().startsWith('{"mode":"dump"')) {
          s.write(`${encodeStart('ab12', 0, 5)}\n${encodeEntry({ seq: 0, time: '2026-11-21T05:40:00Z', source: 'web', stream: 'stderr', msg: 'token=abc then hung' })}\n`);
        }
        s.resume();
      });
    });
    await new Promise<void>((r) => server.listen(socket, r));
    defer(() => {
      for (const s of held) s.destroy();
      server.close();
    });
    const archive = path.join(dir, 'hang.tar.gz');
    const r = await bundle(['-o', archive, '-socket', socket, '--log-dir', dir, '--timeout', '1']);
    expect(r.code).toBe(0);
    const { manifest, read } = extractAndVerify(archive);
    const byPath = new Map(manifest.items.map((i) => [i.path, i]));
    expect(byPath.get('memlogd/dump.ndjson')).toMatchObject({
      status: 'ok', truncated: true, redactions: { 'secret-value': 1 }, notes: ['time limit of 1s reached: cut there'],
    });
    expect(read('memlogd/logread.txt').toString()).toBe(`2026-11-21T05:40:00Z;web;token=${MASK} then hung\n`);
    const stats = byPath.get('memlogd/stats.json')!;
    expect(stats).toMatchObject({ status: 'failed', reason: expect.stringContaining('time limit of 1s reached') });
    expect(stats.durationMs).toBeGreaterThanOrEqual(900);
    // every connection it opened was closed again
    await waitFor(() => held.length === 2 && held.every((s) => s.destroyed || s.readableEnded), 'logbundle to close its connections');
  });
});

describe('logbundle -o -', () => {
  it('writes the archive to stdout, and nothing else', async () => {
    const dir = tmpDir();
    const file = path.join(dir, 'out.tar.gz');
    const fd = fs.openSync(file, 'w');
    const p = spawn(process.execPath, [BIN('logbundle'), '-o', '-', '-socket', path.join(dir, 'none.sock'), '--log-dir', dir], { stdio: ['ignore', fd, 'pipe'] });
    fs.closeSync(fd);
    let err = '';
    p.stderr!.on('data', (x) => (err += x));
    expect(await exited(p)).toEqual({ code: 0, signal: null });
    expect(err).toBe('');
    expect(fs.readdirSync(dir).sort()).toEqual(['out.tar.gz']); // no sidecar, no temporary file
    const list = spawnSync('tar', ['-tzf', file], { encoding: 'utf8' });
    expect(list.status).toBe(0);
    expect(list.stdout).toMatch(/^logbundle-[^/]+-\d{8}T\d{6}Z\/manifest\.json$/m);
  });
});
