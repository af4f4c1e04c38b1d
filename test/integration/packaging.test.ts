// The LinuxKit packaging, checked without Docker (none of our machines has an engine, so the
// images are never built here): linuxkit.yml and every build.yml use only keys LinuxKit accepts,
// every image of ours has its pkg/ directory, memlogd is an init image whose 002-logging runs
// `memlogd -daemonize`, services get the binds, devices and capabilities they need, and what the
// Dockerfiles copy into the images exists in the build output (`make build`).
//
// The accepted keys are LinuxKit's own (github.com/linuxkit/linuxkit at 3bf33c3a, 2026-03-27):
// build.yml is decoded into pkglib's pkgInfo with unknown fields refused (pkglib.go,
// dec.KnownFields(true)), `config` into moby.ImageConfig (moby/config.go); linuxkit.yml is
// validated against the JSON schema in moby/schema.go (additionalProperties: false throughout).

import { spawn } from 'node:child_process';
import fs from 'node:fs';
import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { useCleanups } from '../support/cleanup.js';
import { exited, ROOT, startDaemon, handOff, waitForEntry } from '../support/helpers.js';

const { track, tmpDir } = useCleanups();

// pkglib.go, type pkgInfo: the yaml tags.
const BUILD_YML_KEYS = ['image', 'org', 'tag', 'dockerfile', 'arches', 'extra-sources', 'gitrepo', 'network', 'disable-cache', 'config', 'buildArgs', 'depends'];
// moby/config.go, type ImageConfig: the yaml tags (also the per-image keys of linuxkit.yml, with name and image).
const IMAGE_CONFIG_KEYS = ['capabilities', 'capabilities.add', 'ambient', 'mounts', 'binds', 'binds.add', 'devices', 'tmpfs', 'command',
  'env', 'cwd', 'net', 'pid', 'ipc', 'uts', 'userns', 'hostname', 'readonly', 'maskedPaths', 'readonlyPaths', 'uid', 'gid',
  'additionalGids', 'noNewPrivileges', 'oomScoreAdj', 'rootfsPropagation', 'cgroupsPath', 'resources', 'sysctl', 'rlimits',
  'uidMappings', 'gidMappings', 'annotations', 'runtime'];
const DEVICE_KEYS = ['path', 'type', 'major', 'minor', 'mode'];
// moby/schema.go: the top level and "kernel".
const TOP_KEYS = ['kernel', 'init', 'onboot', 'onshutdown', 'services', 'trust', 'files', 'volumes'];
const KERNEL_KEYS = ['image', 'cmdline', 'binary', 'tar', 'ucode'];
// moby/config.go nameRE: container names.
const NAME_RE = /^[a-z0-9_-]*$/;

type Obj = Record<string, unknown>;
const readYaml = (file: string) => parse(fs.readFileSync(file, 'utf8')) as Obj;
const pkgDir = (name: string) => path.join(ROOT, 'pkg', name);
const bins = Object.keys((JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { bin: Obj }).bin);
const version = (JSON.parse(fs.readFileSync(path.join(ROOT, 'package.json'), 'utf8')) as { version: string }).version;

/** Keys of obj that LinuxKit would refuse. */
const unknownKeys = (obj: Obj, allowed: string[]) => Object.keys(obj).filter((k) => !allowed.includes(k));

/** Problems LinuxKit's strict decoding of build.yml would report, as messages (empty: accepted). */
function buildYmlProblems(b: Obj): string[] {
  const p = unknownKeys(b, BUILD_YML_KEYS).map((k) => `unknown key ${k}`);
  if (typeof b.image !== 'string' || !b.image) p.push('image is required');
  if ('network' in b && typeof b.network !== 'boolean') p.push('network must be a boolean');
  const config = (b.config ?? {}) as Obj;
  p.push(...unknownKeys(config, IMAGE_CONFIG_KEYS).map((k) => `unknown config key ${k}`));
  for (const d of (config.devices ?? []) as Obj[]) p.push(...unknownKeys(d, DEVICE_KEYS).map((k) => `unknown device key ${k}`));
  for (const s of (b['extra-sources'] ?? []) as string[]) if (s.split(':').length !== 2) p.push(`bad source format in ${s}`);
  return p;
}

// Our images: those under our org; each maps to pkg/<image>.
const OUR_ORG = 'memlogd';
const lk = readYaml(path.join(ROOT, 'linuxkit.yml'));
const images = [...(lk.init as string[]), ...['onboot', 'onshutdown', 'services'].flatMap((s) => ((lk[s] ?? []) as Obj[]).map((i) => i.image as string))];
const ours = (ref: string) => ref.startsWith(`${OUR_ORG}/`);
const pkgOf = (ref: string) => ref.slice(OUR_ORG.length + 1).split(':')[0];
const service = (name: string) => (lk.services as Obj[]).find((s) => s.name === name)!;

/** linuxkit.yml with the commented-out logforward service (between BEGIN and END) uncommented. */
function logforward(): Obj {
  const text = fs.readFileSync(path.join(ROOT, 'linuxkit.yml'), 'utf8');
  const m = /^ *# BEGIN logforward\n([\s\S]*?)^ *# END logforward$/m.exec(text);
  expect(m, 'the BEGIN/END logforward block').not.toBeNull();
  return parse(text.replace(m![0], m![1].replace(/^( *)# /gm, '$1'))) as Obj;
}

/** A service's configuration as LinuxKit computes it: the image's build.yml config, then the entry's keys. */
function effectiveConfig(entry: Obj): Obj {
  const ref = entry.image as string;
  const base = ours(ref) ? ((readYaml(path.join(pkgDir(pkgOf(ref)), 'build.yml')).config ?? {}) as Obj) : {};
  return { ...base, ...entry };
}

describe('linuxkit.yml', () => {
  it('parses and uses only keys of LinuxKit\'s schema', () => {
    expect(unknownKeys(lk, TOP_KEYS)).toEqual([]);
    expect(unknownKeys(lk.kernel as Obj, KERNEL_KEYS)).toEqual([]);
    for (const section of ['onboot', 'services']) {
      for (const entry of lk[section] as Obj[]) {
        expect(unknownKeys(entry, ['name', 'image', ...IMAGE_CONFIG_KEYS]), `${section} ${entry.name}`).toEqual([]);
        expect(entry.name).toMatch(NAME_RE);
        expect(typeof entry.image).toBe('string');
      }
    }
  });

  it('is shaped like LinuxKit\'s logging example: kernel, init, an onboot action, getty, kmsg, logwrite and a noisy service', () => {
    expect((lk.kernel as Obj).image).toMatch(/^linuxkit\/kernel:/);
    expect((lk.onboot as Obj[]).length).toBeGreaterThanOrEqual(1);
    const names = (lk.services as Obj[]).map((s) => s.name);
    expect(names).toEqual(expect.arrayContaining(['getty', 'kmsg', 'write-and-rotate-logs', 'write-to-the-logs']));
    expect(service('write-to-the-logs').command).toBeDefined();
  });

  it('names every image of ours with a pkg/ directory, by the org, image and tag its build.yml builds (logforward: once uncommented)', () => {
    const refs = [...images.filter(ours), ...(logforward().services as Obj[]).map((x) => x.image as string).filter((r) => r.includes('logforward'))];
    expect(refs.map(pkgOf).sort()).toEqual(['kmsg', 'logforward', 'logwrite', 'memlogd']);
    for (const ref of refs) {
      const dir = pkgDir(pkgOf(ref));
      expect(fs.existsSync(path.join(dir, 'build.yml')) && fs.existsSync(path.join(dir, 'Dockerfile')), ref).toBe(true);
      const b = readYaml(path.join(dir, 'build.yml'));
      expect(`${b.org}/${b.image}:${b.tag}`).toBe(ref);
      expect(b.tag).toBe(version);
    }
  });

  it('has memlogd under init (and nowhere else), whose 002-logging runs memlogd -daemonize', () => {
    expect((lk.init as string[]).filter(ours).map(pkgOf)).toEqual(['memlogd']);
    expect(images.filter((r) => ours(r) && pkgOf(r) === 'memlogd')).toHaveLength(1);
    const rc = path.join(pkgDir('memlogd'), 'etc/init.d/002-logging');
    expect(fs.statSync(rc).mode & 0o111).not.toBe(0);
    expect(fs.readFileSync(rc, 'utf8')).toMatch(/^\/usr\/bin\/memlogd -daemonize --socket-syslog \/dev\/log$/m);
    expect((readYaml(path.join(pkgDir('memlogd'), 'build.yml')).config as Obj).binds).toContain('/var/run:/var/run');
  });

  it('has a logforward service, commented out: uncommented it is valid, reaches the query socket and the network, keeps its state in /var/run', () => {
    const lf = (logforward().services as Obj[]).find((x) => x.name === 'logforward')!;
    expect(unknownKeys(lf, ['name', 'image', ...IMAGE_CONFIG_KEYS])).toEqual([]);
    const c = effectiveConfig(lf);
    expect(c.binds).toContain('/var/run:/var/run');
    expect(c.net).toBe('host');
    const cmd = c.command as string[];
    expect(cmd[0]).toBe('/usr/bin/logforward');
    expect(cmd[cmd.indexOf('--state') + 1]).toMatch(/^\/var\/run\//);
    expect(cmd.at(-1)).toMatch(/^relp:\/\//);
  });

  it('binds /dev/log (memlogd\'s syslog socket) into the demo service that logs by syslog', () => {
    const demo = service('write-to-the-logs');
    expect(demo.binds).toContain('/dev/log:/dev/log');
    expect(demo.command as string[]).toEqual(expect.arrayContaining([expect.stringContaining('logger -t demo')]));
  });

  it('gives kmsg /dev/kmsg (bind and device c 1:11) and CAP_SYSLOG, and logwrite /var/run and /var/log', () => {
    const kmsg = effectiveConfig(service('kmsg'));
    expect(kmsg.binds).toContain('/dev/kmsg:/dev/kmsg');
    expect(kmsg.devices).toContainEqual(expect.objectContaining({ path: '/dev/kmsg', type: 'c', major: 1, minor: 11 }));
    expect(kmsg.capabilities).toContain('CAP_SYSLOG');
    const lw = effectiveConfig(service('write-and-rotate-logs'));
    expect(lw.binds).toEqual(expect.arrayContaining(['/var/run:/var/run', '/var/log:/var/log']));
  });
});

describe('build.yml', () => {
  it.each(['memlogd', 'kmsg', 'logwrite', 'logforward'])('pkg/%s/build.yml has only keys LinuxKit accepts, and its sources exist', (name) => {
    const b = readYaml(path.join(pkgDir(name), 'build.yml'));
    expect(buildYmlProblems(b)).toEqual([]);
    for (const s of (b['extra-sources'] ?? []) as string[]) expect(fs.existsSync(path.resolve(pkgDir(name), s.split(':')[0]))).toBe(true);
  });

  it('the check refuses what LinuxKit refuses', () => {
    expect(buildYmlProblems({ image: 'x', command: ['y'] })).toEqual(['unknown key command']);
    expect(buildYmlProblems({ image: 'x', config: { bind: [] } })).toEqual(['unknown config key bind']);
    expect(buildYmlProblems({ org: 'x' })).toEqual(['image is required']);
  });
});

/** Instructions of a Dockerfile, continuation lines joined, comments dropped; split into stages. */
function stages(file: string): Array<{ from: string; lines: string[] }> {
  const text = fs.readFileSync(file, 'utf8').split('\n').filter((l) => !/^\s*#/.test(l)).join('\n').replace(/\\\n/g, ' ');
  const out: Array<{ from: string; lines: string[] }> = [];
  for (const line of text.split('\n').map((l) => l.trim()).filter(Boolean)) {
    if (/^FROM\s/i.test(line)) out.push({ from: line, lines: [] });
    else out.at(-1)!.lines.push(line);
  }
  return out;
}

describe('Dockerfiles', () => {
  const launcherRun = /install -D -m 0755 pkg\/launcher\.sh "\/launchers\/usr\/bin\/\$tool"/;

  it.each(['memlogd', 'kmsg', 'logwrite', 'logforward'])('pkg/%s: built on a pinned Alpine with Node 20, copied from scratch; every copied path exists in the build output', (name) => {
    const dir = pkgDir(name);
    const [build, final] = stages(path.join(dir, 'Dockerfile'));
    expect(build.from).toBe('FROM alpine:3.20 AS build');
    const run = build.lines.filter((l) => l.startsWith('RUN ')).join('\n');
    for (const step of ['apk add --no-cache nodejs nodejs-dev npm', 'npm ci', 'npm run install', 'npx tsc -p tsconfig.json',
      'npm prune --omit=dev', 'sh pkg/stage-runtime.sh build/Release/memlogd_native.node']) expect(run).toContain(step);
    expect(run).toMatch(launcherRun);
    expect(final.from).toBe('FROM scratch');

    // What the build stage makes itself, besides the repository under /src.
    const made = ['/usr/lib/memlogd/bin/', '/usr/lib/memlogd/lib/', '/usr/lib/memlogd/share/', '/launchers/', '/shell/'];
    const stageScript = fs.readFileSync(path.join(ROOT, 'pkg/stage-runtime.sh'), 'utf8');
    expect(stageScript).toContain('prefix=${PREFIX:-/usr/lib/memlogd}');
    expect(stageScript).toContain('mkdir -p "$prefix/bin" "$prefix/lib" "$prefix/share/icu"');
    expect(run).toContain('mkdir -p /shell/bin');

    const copies = final.lines.filter((l) => /^COPY\s/.test(l)).map((l) => l.split(/\s+/).slice(1));
    expect(copies.length).toBeGreaterThan(5);
    for (const args of copies) {
      const from = args.find((a) => a.startsWith('--from='));
      const [src, dst] = args.filter((a) => !a.startsWith('--'));
      if (!from) {
        expect(fs.existsSync(path.join(dir, src)), `${name}: COPY ${src} (build context)`).toBe(true);
        continue;
      }
      expect(from).toBe('--from=build');
      if (src.startsWith('/src/')) {
        expect(fs.existsSync(path.join(ROOT, src.slice('/src/'.length))), `${name}: COPY --from=build ${src} (run make build)`).toBe(true);
      } else {
        expect(made, `${name}: COPY --from=build ${src}`).toContain(src);
      }
      expect(dst.startsWith('/'), dst).toBe(true);
    }
    // Every file under the private prefix the tools need at run time.
    const copied = copies.map((a) => a.filter((x) => !x.startsWith('--'))[0]);
    for (const p of ['/usr/lib/memlogd/bin/', '/usr/lib/memlogd/lib/', '/usr/lib/memlogd/share/', '/src/package.json', '/src/dist/cmd/', '/src/dist/lib/', '/src/build/Release/memlogd_native.node', '/src/node_modules/', '/launchers/']) {
      expect(copied, `${name} copies ${p}`).toContain(p);
    }
  });

  it('every binary in package.json is built and gets a launcher; services start theirs and have a shell for it', () => {
    for (const b of bins) expect(fs.existsSync(path.join(ROOT, 'dist/cmd', `${b}.js`)), b).toBe(true);
    for (const [name, tool] of [['kmsg', 'kmsg'], ['logwrite', 'logwrite'], ['logforward', 'logforward']]) {
      const final = stages(path.join(pkgDir(name), 'Dockerfile'))[1];
      expect(final.lines).toContain(`CMD ["/usr/bin/${tool}"]`);
      expect(final.lines).toContain('COPY --from=build /shell/ /');
    }
    // The init image adds no shell: it would replace init's own in the root filesystem.
    expect(stages(path.join(pkgDir('memlogd'), 'Dockerfile'))[1].lines).not.toContain('COPY --from=build /shell/ /');
  });

  it('the service images are built alike: their Dockerfiles differ only in the command they start', () => {
    // Each package builds from its own context (LinuxKit's way), so the recipe is written out in
    // each; this keeps the copies from drifting apart.
    const recipe = (name: string) => stages(path.join(pkgDir(name), 'Dockerfile')).flatMap((st) => [st.from, ...st.lines]).filter((l) => !l.startsWith('CMD '));
    expect(recipe('logwrite')).toEqual(recipe('kmsg'));
    expect(recipe('logforward')).toEqual(recipe('kmsg'));
  });

  it('.dockerignore lets through everything the build stage reads from src/', () => {
    for (const name of ['memlogd', 'kmsg', 'logwrite', 'logforward']) {
      const rules = fs.readFileSync(path.join(pkgDir(name), '.dockerignore'), 'utf8').split('\n').filter((l) => l.startsWith('!'));
      const kept = rules.map((l) => l.slice('!src/'.length));
      expect(kept.sort()).toEqual(['binding.gyp', 'cmd', 'lib', 'package-lock.json', 'package.json', 'pkg/launcher.sh', 'pkg/stage-runtime.sh', 'tsconfig.json']);
      for (const k of kept) expect(fs.existsSync(path.join(ROOT, k)), k).toBe(true);
    }
  });
});

describe('pkg/launcher.sh', () => {
  it('runs its tool through the private loader when called from another root (as /proc/1/root/usr/bin/logread)', async () => {
    const d = track(await startDaemon());
    handOff(d.log, 'web.out', 'hello from the root\n');
    await waitForEntry(d.query, (e) => e.msg === 'hello from the root', 'the line');

    // A root laid out as our images lay it out, reached through a path that is not /usr/bin.
    const root = tmpDir();
    const prefix = path.join(root, 'usr/lib/memlogd');
    fs.mkdirSync(path.join(root, 'usr/bin'), { recursive: true });
    fs.mkdirSync(path.join(prefix, 'bin'), { recursive: true });
    fs.mkdirSync(path.join(prefix, 'lib'));
    fs.copyFileSync(path.join(ROOT, 'pkg/launcher.sh'), path.join(root, 'usr/bin/logread'));
    fs.chmodSync(path.join(root, 'usr/bin/logread'), 0o755);
    fs.symlinkSync(process.execPath, path.join(prefix, 'bin/node'));
    for (const f of ['package.json', 'dist', 'build', 'node_modules']) fs.symlinkSync(path.join(ROOT, f), path.join(prefix, f));
    // The loader and libraries node links, as ldd would list them, into lib/.
    const maps = fs.readFileSync('/proc/self/maps', 'utf8').split('\n').map((l) => l.split(/\s+/)[5]).filter((p) => p && /\.so(\.|$)/.test(p) && !p.includes('memlogd_native'));
    for (const so of new Set(maps)) {
      const dst = path.join(prefix, 'lib', path.basename(so));
      if (!fs.existsSync(dst)) fs.symlinkSync(so, dst);
    }
    expect(fs.readdirSync(path.join(prefix, 'lib')).some((f) => f.startsWith('ld-'))).toBe(true);

    const p = spawn(path.join(root, 'usr/bin/logread'), ['-socket', d.query], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    p.stdout!.on('data', (x) => (out += x));
    p.stderr!.on('data', (x) => (err += x));
    expect(await exited(p), err).toEqual({ code: 0, signal: null });
    expect(out).toMatch(/;web\.out;hello from the root$/m);
  });
});
