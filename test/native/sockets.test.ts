// Real AF_UNIX sockets through the native addon: fd passing, truncation,
// credentials, and Node-shaped errors. No mocks.
import * as fs from 'node:fs';
import { constants as osConstants } from 'node:os';
import * as path from 'node:path';
import { describe, expect, it } from 'vitest';
import * as native from '../../lib/native/index.js';
import { useCleanups } from '../support/cleanup.js';
import { dgramPair, FD_CLOEXEC, O_NONBLOCK } from '../support/native.js';

const E = osConstants.errno;
const { tmpDir, fds } = useCleanups();


function expectSysError(fn: () => unknown, code: string, syscall: string, p?: string): NodeJS.ErrnoException {
  let err: NodeJS.ErrnoException | undefined;
  try {
    fn();
  } catch (e) {
    err = e as NodeJS.ErrnoException;
  }
  expect(err).toBeInstanceOf(Error);
  expect(err!.code).toBe(code);
  expect(err!.syscall).toBe(syscall);
  expect(err!.errno).toBe(-(E as Record<string, number>)[code]!);
  expect(err!.message).toBe(p === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${p}`);
  if (p !== undefined) expect(err!.path).toBe(p);
  return err!;
}

/** Read what is immediately available on a (blocking) fd. */
function readFd(fd: number, max = 64): string {
  const buf = Buffer.alloc(max);
  const n = fs.readSync(fd, buf, 0, max, null);
  return buf.subarray(0, n).toString();
}

describe('module surface', () => {
  it('exports the constants and the raw binding', () => {
    expect(native.POLL_READABLE).toBe(1);
    expect(native.POLL_WRITABLE).toBe(2);
    expect(native.SOCK_STREAM).toBe(1);
    expect(native.SOCK_DGRAM).toBe(2);
    for (const name of [
      'socketDgram', 'socketStream', 'bind', 'connect', 'listen', 'getsockname', 'recvmsg', 'sendmsg',
      'socketpair', 'pipe', 'close', 'setNonBlocking', 'setCloexec', 'setPassCred', 'peerCred', 'fdFlags',
      'pollStart', 'pollStop', 'pollUnref', 'pollRef', 'recv', 'sockInfo', 'pollNow', 'epollCreate', 'epollCtl', 'epollWait',
    ]) {
      expect(typeof (native.raw as unknown as Record<string, unknown>)[name], name).toBe('function');
      expect(typeof (native as unknown as Record<string, unknown>)[name], name).toBe('function');
    }
  });

  it('a missing addon is a clear ERR_MEMLOGD_NATIVE_MISSING error, at first use', async () => {
    // The same modules, copied where no build/Release/ exists above them. The addon is loaded
    // lazily: importing succeeds, the first call fails.
    const dir = tmpDir();
    for (const f of ['native/index.ts', 'protocol/errors.ts']) {
      const copy = path.join(dir, 'lib', f);
      fs.mkdirSync(path.dirname(copy), { recursive: true });
      fs.copyFileSync(new URL(`../../lib/${f}`, import.meta.url), copy);
    }
    const mod = await import(path.join(dir, 'lib', 'native', 'index.ts'));
    let err: unknown;
    try {
      mod.pipe();
    } catch (e) {
      err = e;
    }
    expect(err).toMatchObject({
      code: 'ERR_MEMLOGD_NATIVE_MISSING',
      message: expect.stringMatching(/build\/Release\/memlogd_native\.node.*run make \/ npm install/),
    });
  });

  it('errnoError builds Node-shaped errors', () => {
    const e = native.errnoError(-E.ENOENT, 'connect', '/x/y');
    expect(e.message).toBe('connect ENOENT /x/y');
    expect(e).toMatchObject({ code: 'ENOENT', errno: -E.ENOENT, syscall: 'connect', path: '/x/y' });
    const f = native.errnoError(-E.EBADF, 'close');
    expect(f.message).toBe('close EBADF');
    expect(f.path).toBeUndefined();
  });

  it('throws TypeError for wrong argument types, not for syscall failures', () => {
    const raw = native.raw as unknown as Record<string, (...a: unknown[]) => unknown>;
    expect(() => raw.close!('3')).toThrow(TypeError);
    expect(() => raw.bind!(3, 42)).toThrow(TypeError);
    expect(() => raw.recvmsg!(3, 'not a buffer')).toThrow(TypeError);
    expect(() => raw.sendmsg!(3, Buffer.alloc(1), 'no')).toThrow(TypeError);
    expect(() => raw.sendmsg!(3, Buffer.alloc(1), ['x'])).toThrow(TypeError);
    expect(() => raw.pollStart!(3, 1, 'no')).toThrow(TypeError);
    expect(() => raw.pollStop!({})).toThrow(TypeError);
    expect(native.raw.close(-1)).toBe(-E.EBADF);
  });
});

describe('sockets and fds', () => {
  it('socketDgram/socketStream are non-blocking and close-on-exec', () => {
    for (const fd of [fds.add(native.socketDgram()), fds.add(native.socketStream())]) {
      const [fdfl, fl] = native.fdFlags(fd);
      expect(fdfl & FD_CLOEXEC).toBe(FD_CLOEXEC);
      expect(fl & O_NONBLOCK).toBe(O_NONBLOCK);
    }
  });

  it('socketpair and pipe are close-on-exec and blocking', () => {
    for (const fd of [...fds.add(native.socketpair(native.SOCK_STREAM)), ...fds.add(native.socketpair(native.SOCK_DGRAM)), ...fds.add(native.pipe())]) {
      const [fdfl, fl] = native.fdFlags(fd);
      expect(fdfl & FD_CLOEXEC).toBe(FD_CLOEXEC);
      expect(fl & O_NONBLOCK).toBe(0);
    }
    expect(native.raw.socketpair(3)).toBe(-E.EINVAL);
  });

  it('pipe() carries data from write end to read end', () => {
    const [r, w] = fds.add(native.pipe());
    fs.writeSync(w, 'through the pipe');
    expect(readFd(r)).toBe('through the pipe');
  });

  it('setNonBlocking toggles O_NONBLOCK; setCloexec sets FD_CLOEXEC', () => {
    const [r] = fds.add(native.pipe());
    native.setNonBlocking(r, true);
    expect(native.fdFlags(r)[1] & O_NONBLOCK).toBe(O_NONBLOCK);
    native.setNonBlocking(r, false);
    expect(native.fdFlags(r)[1] & O_NONBLOCK).toBe(0);
    native.setCloexec(r);
    expect(native.fdFlags(r)[0] & FD_CLOEXEC).toBe(FD_CLOEXEC);
    expectSysError(() => native.setNonBlocking(-1, true), 'EBADF', 'fcntl');
    expectSysError(() => native.setCloexec(-1), 'EBADF', 'fcntl');
  });

  it('close of a bad fd gives EBADF', () => {
    expectSysError(() => native.close(-1), 'EBADF', 'close');
    const [r, w] = native.pipe();
    native.close(r);
    native.close(w);
    expectSysError(() => native.close(w), 'EBADF', 'close');
  });

  it('getsockname gives the bound path, "" for an unnamed socket', () => {
    const { rx, tx, path: p } = dgramPair(tmpDir(), fds);
    expect(native.getsockname(rx)).toBe(p);
    expect(native.getsockname(tx)).toBe('');
    const [r] = fds.add(native.pipe());
    expectSysError(() => native.getsockname(r), 'ENOTSOCK', 'getsockname');
  });
});

describe('datagrams with fd passing', () => {
  it('sends a payload with 1 fd; the received fd is CLOEXEC and reads the pipe', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const [r, w] = fds.add(native.pipe());
    expect(native.sendmsg(tx, Buffer.from('svc-one'), [r])).toBe(7);
    fds.close(r); // the in-flight copy keeps the pipe open

    const buf = Buffer.alloc(256);
    const res = native.recvmsg(rx, buf)!;
    expect(res).not.toBeNull();
    fds.add(res.fds);
    expect(res).toMatchObject({ bytes: 7, fullLength: 7, ctrunc: false, pid: -1, uid: -1, gid: -1 });
    expect(buf.subarray(0, res.bytes).toString()).toBe('svc-one');
    expect(res.fds).toHaveLength(1);
    const [got] = res.fds as [number];
    expect(native.fdFlags(got)[0] & FD_CLOEXEC).toBe(FD_CLOEXEC);
    fs.writeSync(w, 'log line\n');
    expect(readFd(got)).toBe('log line\n');
  });

  it('sends a payload with 3 fds and receives them in order', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const pipes = [fds.add(native.pipe()), fds.add(native.pipe()), fds.add(native.pipe())];
    expect(native.sendmsg(tx, Buffer.from('three'), pipes.map(([r]) => r))).toBe(5);

    const buf = Buffer.alloc(64);
    const res = native.recvmsg(rx, buf)!;
    fds.add(res.fds);
    expect(res.bytes).toBe(5);
    expect(res.ctrunc).toBe(false);
    expect(res.fds).toHaveLength(3);
    pipes.forEach(([, w], i) => fs.writeSync(w, `pipe ${i}`));
    res.fds.forEach((fd, i) => {
      expect(native.fdFlags(fd)[0] & FD_CLOEXEC).toBe(FD_CLOEXEC);
      expect(readFd(fd)).toBe(`pipe ${i}`);
    });
  });

  it('passes the maximum of 253 fds in one message; 254 is EINVAL', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const [r] = fds.add(native.pipe());
    const many = new Array<number>(253).fill(r);
    expect(native.sendmsg(tx, Buffer.from('x'), many)).toBe(1);
    const res = native.recvmsg(rx, Buffer.alloc(8))!;
    fds.add(res.fds);
    expect(res.fds).toHaveLength(253);
    expect(res.ctrunc).toBe(false);
    expect(new Set(res.fds).size).toBe(253);
    expectSysError(() => native.sendmsg(tx, Buffer.from('x'), [...many, r]), 'EINVAL', 'sendmsg');
  });

  it('reports fullLength when the datagram is longer than the buffer', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    const payload = Buffer.alloc(1000, 'abcdefghij');
    expect(native.sendmsg(tx, payload)).toBe(1000);
    const buf = Buffer.alloc(10);
    const res = native.recvmsg(rx, buf)!;
    expect(res).toMatchObject({ bytes: 10, fullLength: 1000, fds: [] });
    expect(buf.toString()).toBe('abcdefghij');
    expect(native.recvmsg(rx, buf)).toBeNull(); // the rest was discarded with the datagram
  });

  it('receives a datagram with no fds, and an empty datagram', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    expect(native.sendmsg(tx, Buffer.from('plain'), [])).toBe(5);
    expect(native.sendmsg(tx, Buffer.alloc(0))).toBe(0);
    const buf = Buffer.alloc(64);
    expect(native.recvmsg(rx, buf)).toEqual({ bytes: 5, fullLength: 5, fds: [], ctrunc: false, pid: -1, uid: -1, gid: -1 });
    expect(native.recvmsg(rx, buf)).toMatchObject({ bytes: 0, fullLength: 0, fds: [] });
  });

  it('recvmsg returns null on EAGAIN (raw gives -EAGAIN)', () => {
    const { rx } = dgramPair(tmpDir(), fds);
    expect(native.recvmsg(rx, Buffer.alloc(16))).toBeNull();
    expect(native.raw.recvmsg(rx, Buffer.alloc(16))).toBe(-E.EAGAIN);
    // Blocking socketpair: MSG_DONTWAIT still makes it non-blocking.
    const [a] = fds.add(native.socketpair(native.SOCK_DGRAM));
    expect(native.recvmsg(a, Buffer.alloc(16))).toBeNull();
  });

  it('sendmsg returns null when the peer queue is full', () => {
    const [a, b] = fds.add(native.socketpair(native.SOCK_DGRAM));
    let sent = 0;
    let last: number | null = 0;
    while (sent < 100_000 && (last = native.sendmsg(a, Buffer.alloc(100))) !== null) sent++;
    expect(last).toBeNull();
    expect(sent).toBeGreaterThan(0);
    expect(native.recvmsg(b, Buffer.alloc(200))).toMatchObject({ bytes: 100 });
  });

  it('sendmsg on an unconnected socket throws ENOTCONN; a closed peer gives ECONNREFUSED', () => {
    const fd = fds.add(native.socketDgram());
    expectSysError(() => native.sendmsg(fd, Buffer.from('x')), 'ENOTCONN', 'sendmsg');
    const { rx, tx } = dgramPair(tmpDir(), fds);
    fds.close(rx);
    expectSysError(() => native.sendmsg(tx, Buffer.from('x')), 'ECONNREFUSED', 'sendmsg');
  });
});

describe('errors with paths', () => {
  it('connect to a missing path is ENOENT with code/syscall/errno/path', () => {
    const dir = tmpDir();
    const fd = fds.add(native.socketDgram());
    const p = path.join(dir, 'nobody.sock');
    expectSysError(() => native.connect(fd, p), 'ENOENT', 'connect', p);
    expect(native.raw.connect(fd, p)).toBe(-E.ENOENT);
  });

  it('bind on a path in a missing directory is ENOENT; binding twice is EADDRINUSE', () => {
    const dir = tmpDir();
    const fd = fds.add(native.socketDgram());
    const p = path.join(dir, 'no', 'such', 'dir.sock');
    expectSysError(() => native.bind(fd, p), 'ENOENT', 'bind', p);
    const ok = path.join(dir, 'x.sock');
    native.bind(fd, ok);
    const other = fds.add(native.socketDgram());
    expectSysError(() => native.bind(other, ok), 'EADDRINUSE', 'bind', ok);
  });

  it('a 200-char path is ENAMETOOLONG; 107 bytes fits sun_path, 108 does not', () => {
    const fd = fds.add(native.socketDgram());
    const long = '/tmp/' + 'x'.repeat(195);
    expect(long).toHaveLength(200);
    expectSysError(() => native.bind(fd, long), 'ENAMETOOLONG', 'bind', long);
    expectSysError(() => native.connect(fd, long), 'ENAMETOOLONG', 'connect', long);
    const fits = '/nonexistent-dir/' + 'y'.repeat(107 - 17);
    expect(Buffer.byteLength(fits)).toBe(107);
    expect(native.raw.connect(fd, fits)).toBe(-E.ENOENT);
    expect(native.raw.connect(fd, fits + 'y')).toBe(-E.ENAMETOOLONG);
    // Multi-byte UTF-8 counts in bytes, not characters.
    expect(native.raw.connect(fd, '/' + 'é'.repeat(54))).toBe(-E.ENAMETOOLONG);
  });

  it('an empty path or an embedded NUL is EINVAL', () => {
    const fd = fds.add(native.socketDgram());
    expect(native.raw.bind(fd, '')).toBe(-E.EINVAL);
    expect(native.raw.connect(fd, '/tmp/a\0b')).toBe(-E.EINVAL);
  });

  it('listen on a dgram socket fails (EOPNOTSUPP, named ENOTSUP by Node)', () => {
    const fd = fds.add(native.socketDgram());
    expectSysError(() => native.listen(fd, 5), 'ENOTSUP', 'listen');
  });
});

describe('mkfifo', () => {
  it('creates a FIFO with the mode asked for (under the umask), and fails EEXIST on a second call', () => {
    const p = path.join(tmpDir(), 'svc.log');
    native.mkfifo(p, 0o600);
    const st = fs.statSync(p);
    expect(st.isFIFO()).toBe(true);
    expect(st.mode & 0o777).toBe(0o600);
    expectSysError(() => native.mkfifo(p, 0o600), 'EEXIST', 'mkfifo', p);
  });

  it('an empty path or an embedded NUL is EINVAL; a missing directory is ENOENT', () => {
    expect(native.raw.mkfifo('', 0o600)).toBe(-E.EINVAL);
    expect(native.raw.mkfifo('/tmp/a\0b', 0o600)).toBe(-E.EINVAL);
    const p = path.join(tmpDir(), 'no', 'x.log');
    expectSysError(() => native.mkfifo(p, 0o600), 'ENOENT', 'mkfifo', p);
  });
});

describe('credentials', () => {
  it('socketpair + peerCred returns this process pid/uid/gid', () => {
    const [a, b] = fds.add(native.socketpair(native.SOCK_STREAM));
    expect(native.peerCred(a)).toEqual([process.pid, process.getuid!(), process.getgid!()]);
    expect(native.peerCred(b)).toEqual([process.pid, process.getuid!(), process.getgid!()]);
    const [r] = fds.add(native.pipe());
    expectSysError(() => native.peerCred(r), 'ENOTSOCK', 'getsockopt');
  });

  it('stream listen/connect by path gives peer credentials to the client', () => {
    const dir = tmpDir();
    const p = path.join(dir, 'q.sock');
    const srv = fds.add(native.socketStream());
    native.bind(srv, p);
    native.listen(srv, 16);
    const cli = fds.add(native.socketStream());
    native.connect(cli, p);
    expect(native.peerCred(cli)).toEqual([process.pid, process.getuid!(), process.getgid!()]);
  });

  it('setPassCred makes recvmsg report the sender pid/uid/gid', () => {
    const { rx, tx } = dgramPair(tmpDir(), fds);
    native.setPassCred(rx, true);
    native.sendmsg(tx, Buffer.from('who'));
    const res = native.recvmsg(rx, Buffer.alloc(16))!;
    expect(res).toMatchObject({ bytes: 3, pid: process.pid, uid: process.getuid!(), gid: process.getgid!(), fds: [] });

    // Credentials and fds together in one message.
    const [r] = fds.add(native.pipe());
    native.sendmsg(tx, Buffer.from('both'), [r]);
    const both = native.recvmsg(rx, Buffer.alloc(16))!;
    fds.add(both.fds);
    expect(both.fds).toHaveLength(1);
    expect(both.pid).toBe(process.pid);

    native.setPassCred(rx, false);
    native.sendmsg(tx, Buffer.from('anon'));
    expect(native.recvmsg(rx, Buffer.alloc(16))).toMatchObject({ pid: -1, uid: -1, gid: -1 });
    expectSysError(() => native.setPassCred(-1, true), 'EBADF', 'setsockopt');
  });
});

describe('reading what a sender shares', () => {
  it('recv never blocks, even on a socket whose description was made blocking; 0 at end of stream', () => {
    const [a, b] = fds.add(native.socketpair(native.SOCK_STREAM)); // blocking, as the sender may leave it
    const buf = Buffer.alloc(16);
    expect(native.recv(a, buf)).toBeNull();
    expect(native.raw.recv(a, buf, 0, 16)).toBe(-E.EAGAIN);
    native.sendmsg(b, Buffer.from('hello'));
    expect(native.recv(a, buf, 2, 10)).toBe(5);
    expect(buf.subarray(2, 7).toString()).toBe('hello');
    expect(native.raw.recv(a, buf, 10, 10)).toBe(-E.EINVAL); // beyond the buffer
    fds.close(b);
    expect(native.recv(a, buf)).toBe(0);
    const [r] = fds.add(native.pipe());
    expectSysError(() => native.recv(r, buf), 'ENOTSOCK', 'recv');
  });

  it('recv drops fds passed on the stream: the kernel closes them', () => {
    const [a, b] = fds.add(native.socketpair(native.SOCK_STREAM));
    const [r, w] = fds.add(native.pipe());
    native.sendmsg(b, Buffer.from('x'), [r]);
    fds.close(r);
    expect(native.recv(a, Buffer.alloc(4))).toBe(1);
    // the only read end left was the one in flight: now gone, so writing fails with EPIPE
    expect(() => fs.writeSync(w, 'y')).toThrow(/EPIPE/);
  });

  it('sockInfo tells stream from datagram and a listening socket from a connected one', () => {
    const [s] = fds.add(native.socketpair(native.SOCK_STREAM));
    expect(native.sockInfo(s)).toEqual({ type: native.SOCK_STREAM, listening: false });
    const [d] = fds.add(native.socketpair(native.SOCK_DGRAM));
    expect(native.sockInfo(d)).toEqual({ type: native.SOCK_DGRAM, listening: false });
    const l = fds.add(native.socketStream());
    native.bind(l, path.join(tmpDir(), 'l.sock'));
    native.listen(l, 1);
    expect(native.sockInfo(l)).toEqual({ type: native.SOCK_STREAM, listening: true });
    const [r] = fds.add(native.pipe());
    expectSysError(() => native.sockInfo(r), 'ENOTSOCK', 'getsockopt');
  });

  it('pollNow reports readable and hung up without waiting', () => {
    const [r, w] = fds.add(native.pipe());
    expect(native.pollNow(r, native.POLLIN)).toBe(0);
    fs.writeSync(w, 'x');
    expect(native.pollNow(r, native.POLLIN)).toBe(native.POLLIN);
    fds.close(w);
    expect(native.pollNow(r, native.POLLIN) & native.POLLHUP).toBe(native.POLLHUP);
  });
});

describe('epoll sets', () => {
  it('report ready fds by token, level-triggered, and forget a removed fd', () => {
    const ep = fds.add(native.epollCreate());
    expect(native.fdFlags(ep)[0] & FD_CLOEXEC).toBe(FD_CLOEXEC);
    const [r1, w1] = fds.add(native.pipe());
    const [r2, w2] = fds.add(native.pipe());
    native.epollCtl(ep, native.EPOLL_CTL_ADD, r1, native.EPOLLIN, 7);
    native.epollCtl(ep, native.EPOLL_CTL_ADD, r2, native.EPOLLIN, 1 << 30);
    const tokens = new Int32Array(4);
    expect(native.epollWait(ep, tokens)).toBe(0);
    fs.writeSync(w1, 'a');
    fs.writeSync(w2, 'b');
    expect([...tokens.subarray(0, native.epollWait(ep, tokens))].sort((a, b) => a - b)).toEqual([7, 1 << 30]);
    expect(native.epollWait(ep, tokens)).toBe(2); // not drained: reported again
    native.epollCtl(ep, native.EPOLL_CTL_DEL, r2, 0, 0);
    expect([...tokens.subarray(0, native.epollWait(ep, tokens))]).toEqual([7]);
    expectSysError(() => native.epollCtl(ep, native.EPOLL_CTL_ADD, r1, native.EPOLLIN, 8), 'EEXIST', 'epoll_ctl');
    const file = fds.add(fs.openSync(path.join(tmpDir(), 'f'), 'w+'));
    expectSysError(() => native.epollCtl(ep, native.EPOLL_CTL_ADD, file, native.EPOLLIN, 9), 'EPERM', 'epoll_ctl'); // regular files
    expect(native.raw.epollWait(ep, new Int32Array(0))).toBe(-E.EINVAL);
    expect(() => native.raw.epollWait(ep, new Uint32Array(4) as unknown as Int32Array)).toThrow(TypeError);
  });
});
