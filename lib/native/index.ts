// Typed binding for the memlogd_native addon (lib/native/memlogd_native.c), loaded on first use:
// importing a module that may need the addon costs nothing until a syscall is made (`memlogd
// --help` and the pure clients never load it).
//
// The addon returns negative errnos; this module turns them into Node-shaped
// errors (`connect ENOENT /path`, with .code/.errno/.syscall/.path), except
// where "would block" is a normal answer for a polled fd (recvmsg, sendmsg
// return null). Nothing else is decided here.

import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { constants as osConstants } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { getSystemErrorName } from 'node:util';
import { ERR, MemlogdError } from '../protocol/errors.js';

/** One received datagram (see recvmsg). */
export interface RecvResult {
  /** Bytes placed in the buffer: min(buf.length, fullLength). */
  bytes: number;
  /** Real length of the datagram (> bytes when it was truncated). */
  fullLength: number;
  /** Every fd passed with SCM_RIGHTS, already close-on-exec; the caller owns them. */
  fds: number[];
  /** MSG_CTRUNC: the control data (fds) did not all fit. */
  ctrunc: boolean;
  /** Sender credentials from SCM_CREDENTIALS (needs setPassCred), else -1. */
  pid: number;
  uid: number;
  gid: number;
}

declare const pollHandleBrand: unique symbol;
/** Opaque handle from pollStart. */
export type PollHandle = { readonly [pollHandleBrand]: true };

/** callback(status, events): status 0 or a negative errno; events POLL_* bits. */
export type PollCallback = (status: number, events: number) => void;

export const POLL_READABLE = 1;
export const POLL_WRITABLE = 2;
export const SOCK_STREAM = 1;
export const SOCK_DGRAM = 2;
export const SOCK_SEQPACKET = 5;

/** The addon as it is: numbers for errors, never throws for syscall failures. */
export interface NativeBinding {
  socketDgram(): number;
  socketStream(): number;
  bind(fd: number, path: string): number;
  connect(fd: number, path: string): number;
  listen(fd: number, backlog: number): number;
  getsockname(fd: number): string | number;
  recvmsg(fd: number, buf: Buffer): RecvResult | number;
  sendmsg(fd: number, payload: Buffer, fds: readonly number[]): number;
  socketpair(type: number): [number, number] | number;
  pipe(): [number, number] | number;
  close(fd: number): number;
  setNonBlocking(fd: number, on: boolean): number;
  setCloexec(fd: number): number;
  setPassCred(fd: number, on: boolean): number;
  peerCred(fd: number): [number, number, number] | number;
  fdFlags(fd: number): [number, number] | number;
  pollStart(fd: number, events: number, callback: PollCallback): PollHandle | number;
  pollStop(handle: PollHandle): number;
  pollUnref(handle: PollHandle): number;
  pollRef(handle: PollHandle): number;
  accept(fd: number): number;
  pollModify(handle: PollHandle, events: number): number;
  setSendBuffer(fd: number, bytes: number): number;
  shutdown(fd: number, how: number): number;
  read(fd: number, buf: Buffer, offset: number, length: number): number;
  clockGettime(id: number): [number, number] | number;
  mkfifo(path: string, mode: number): number;
  recv(fd: number, buf: Buffer, offset: number, length: number): number;
  sockInfo(fd: number): [number, number] | number;
  pollNow(fd: number, events: number): number;
  epollCreate(): number;
  epollCtl(epfd: number, op: number, fd: number, events: number, token: number): number;
  epollWait(epfd: number, tokens: Int32Array): number;
}

const ADDON = join('build', 'Release', 'memlogd_native.node');

// This file runs as lib/native.ts (vitest) and as dist/lib/native.js (tsc
// output): walk up from here until build/Release/ is found.
function findAddon(): string | undefined {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    const candidate = join(dir, ADDON);
    if (existsSync(candidate)) return candidate;
    const parent = dirname(dir);
    if (parent === dir) return undefined;
    dir = parent;
  }
}

function loadAddon(): NativeBinding {
  const path = findAddon();
  if (path === undefined) {
    throw new MemlogdError(ERR.NATIVE_MISSING,
      `memlogd native addon not found: no ${ADDON} above ${dirname(fileURLToPath(import.meta.url))}; ` +
        'build it first (run make / npm install)');
  }
  return createRequire(import.meta.url)(path) as NativeBinding;
}

let binding: NativeBinding | undefined;

/** The raw addon (numbers for errors), loaded on first use; throws ERR_MEMLOGD_NATIVE_MISSING. */
export function addon(): NativeBinding {
  return (binding ??= loadAddon());
}

/** The raw addon, for tests: every property is looked up on the addon when used. */
export const raw: NativeBinding = new Proxy({} as NativeBinding, {
  get: (_t, key) => (addon() as unknown as Record<string | symbol, unknown>)[key],
  has: (_t, key) => key in addon(),
  ownKeys: () => Reflect.ownKeys(addon()),
  getOwnPropertyDescriptor: (_t, key) => Reflect.getOwnPropertyDescriptor(addon(), key),
});

const EAGAIN = -osConstants.errno.EAGAIN;
const EWOULDBLOCK = -osConstants.errno.EWOULDBLOCK;

/** A Node-style system error for a negative errno `rc`: message `"<syscall> <CODE>[ <path>]"`. */
export function errnoError(rc: number, syscall: string, path?: string): NodeJS.ErrnoException {
  const errno = -Math.abs(rc);
  const code = errno === 0 ? 'UNKNOWN' : getSystemErrorName(errno);
  const err = new Error(path === undefined ? `${syscall} ${code}` : `${syscall} ${code} ${path}`) as NodeJS.ErrnoException;
  err.errno = errno;
  err.code = code;
  err.syscall = syscall;
  if (path !== undefined) err.path = path;
  Error.captureStackTrace(err, errnoError);
  return err;
}

function check<T>(rc: T | number, syscall: string, path?: string): T {
  if (typeof rc === 'number' && rc < 0) throw errnoError(rc, syscall, path);
  return rc as T;
}

/** AF_UNIX SOCK_DGRAM, non-blocking, close-on-exec. */
export function socketDgram(): number {
  return check(addon().socketDgram(), 'socket');
}

/** AF_UNIX SOCK_STREAM, non-blocking, close-on-exec. */
export function socketStream(): number {
  return check(addon().socketStream(), 'socket');
}

export function bind(fd: number, path: string): void {
  check(addon().bind(fd, path), 'bind', path);
}

export function connect(fd: number, path: string): void {
  check(addon().connect(fd, path), 'connect', path);
}

export function listen(fd: number, backlog: number): void {
  check(addon().listen(fd, backlog), 'listen');
}

/** The socket's own path; '' when unnamed, '@name' for an abstract name. */
export function getsockname(fd: number): string {
  return check(addon().getsockname(fd), 'getsockname');
}

/** Receive one datagram into buf without blocking; null when none is queued. */
export function recvmsg(fd: number, buf: Buffer): RecvResult | null {
  const r = addon().recvmsg(fd, buf);
  if (typeof r === 'number') {
    if (r === EAGAIN || r === EWOULDBLOCK) return null;
    throw errnoError(r, 'recvmsg');
  }
  return r;
}

/** Send payload (plus fds via SCM_RIGHTS) on a connected socket; null if it would block. */
export function sendmsg(fd: number, payload: Buffer, fds: readonly number[] = []): number | null {
  const r = addon().sendmsg(fd, payload, fds);
  if (r === EAGAIN || r === EWOULDBLOCK) return null;
  return check(r, 'sendmsg');
}

/** AF_UNIX socketpair of SOCK_STREAM, SOCK_DGRAM or SOCK_SEQPACKET: close-on-exec, blocking. */
export function socketpair(type: number): [number, number] {
  return check(addon().socketpair(type), 'socketpair');
}

/** [readFd, writeFd], close-on-exec, blocking. */
export function pipe(): [number, number] {
  return check(addon().pipe(), 'pipe');
}

/** Creates a FIFO (named pipe) at path with the given mode (before the umask). */
export function mkfifo(path: string, mode: number): void {
  check(addon().mkfifo(path, mode), 'mkfifo', path);
}

export function close(fd: number): void {
  check(addon().close(fd), 'close');
}

export function setNonBlocking(fd: number, on: boolean): void {
  check(addon().setNonBlocking(fd, on), 'fcntl');
}

export function setCloexec(fd: number): void {
  check(addon().setCloexec(fd), 'fcntl');
}

export function setPassCred(fd: number, on: boolean): void {
  check(addon().setPassCred(fd, on), 'setsockopt');
}

/** [pid, uid, gid] of the connected peer (SO_PEERCRED). */
export function peerCred(fd: number): [pid: number, uid: number, gid: number] {
  return check(addon().peerCred(fd), 'getsockopt');
}

/** [fcntl(F_GETFD), fcntl(F_GETFL)]. */
export function fdFlags(fd: number): [fdFlags: number, statusFlags: number] {
  return check(addon().fdFlags(fd), 'fcntl');
}

/**
 * Watch fd for POLL_READABLE / POLL_WRITABLE on Node's event loop; callback
 * runs on the main thread. Note: this makes fd non-blocking, and fd must not
 * be closed before pollStop. A running poll keeps the process alive unless
 * pollUnref'd; dropping the handle without pollStop does NOT stop it.
 */
export function pollStart(fd: number, events: number, callback: PollCallback): PollHandle {
  return check(addon().pollStart(fd, events, callback), 'uv_poll_start');
}

/** Stop and release a poll; calling it again is a no-op. */
export function pollStop(handle: PollHandle): void {
  addon().pollStop(handle);
}

/** Let the process exit even while this poll runs. */
export function pollUnref(handle: PollHandle): void {
  addon().pollUnref(handle);
}

/** Accepts one connection (non-blocking, close-on-exec); null when none is waiting. */
export function accept(fd: number): number | null {
  const rc = addon().accept(fd);
  if (rc === EAGAIN || rc === EWOULDBLOCK) return null;
  return check(rc, 'accept');
}

/** Changes what an active poll watches (POLL_READABLE / POLL_WRITABLE). */
export function pollModify(handle: PollHandle, events: number): void {
  check(addon().pollModify(handle, events), 'uv_poll_start');
}

/** Asks for a kernel send buffer of `bytes` (root may exceed wmem_max); returns what was granted. */
export function setSendBuffer(fd: number, bytes: number): number {
  return check(addon().setSendBuffer(fd, bytes), 'setsockopt');
}

export const SHUT_WR = 1;

/** Ends the sending side (or both) of a connected socket. */
export function shutdown(fd: number, how: number): void {
  check(addon().shutdown(fd, how), 'shutdown');
}

/** Undo pollUnref. */
export function pollRef(handle: PollHandle): void {
  addon().pollRef(handle);
}

/**
 * One read(2) into buf[offset, offset + length) without blocking (fd must be non-blocking): the
 * bytes read, 0 at end of file, null when nothing is ready. Throws other errors (EPIPE from
 * /dev/kmsg: records were overwritten before they were read).
 */
export function read(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number | null {
  const r = addon().read(fd, buf, offset, length);
  if (r === EAGAIN || r === EWOULDBLOCK) return null;
  return check(r, 'read');
}

/**
 * One recv(2) with MSG_DONTWAIT into buf[offset, offset + length): the bytes received, 0 at end of
 * stream, null when nothing is ready. Never blocks, even when the socket's file description was
 * made blocking by someone who shares it.
 */
export function recv(fd: number, buf: Buffer, offset = 0, length = buf.length - offset): number | null {
  const r = addon().recv(fd, buf, offset, length);
  if (r === EAGAIN || r === EWOULDBLOCK) return null;
  return check(r, 'recv');
}

/** A socket's SO_TYPE (SOCK_STREAM, SOCK_DGRAM, ...) and whether it is listening (SO_ACCEPTCONN). */
export function sockInfo(fd: number): { type: number; listening: boolean } {
  const [type, listening] = check(addon().sockInfo(fd), 'getsockopt');
  return { type, listening: listening !== 0 };
}

/** poll(2) bits, for pollNow. */
export const POLLIN = 0x1;
export const POLLHUP = 0x10;

/** The poll(2) state of fd now (revents for `events`, plus POLLHUP/POLLERR), without waiting. */
export function pollNow(fd: number, events: number): number {
  return check(addon().pollNow(fd, events), 'poll');
}

export const EPOLL_CTL_ADD = 1;
export const EPOLL_CTL_DEL = 2;
export const EPOLLIN = 0x1;

/** A new epoll set (close-on-exec): many fds behind one readiness, see epollWait. */
export function epollCreate(): number {
  return check(addon().epollCreate(), 'epoll_create1');
}

/** Adds (EPOLL_CTL_ADD) or removes (EPOLL_CTL_DEL) fd; epollWait reports it by token. */
export function epollCtl(epfd: number, op: number, fd: number, events: number, token: number): void {
  check(addon().epollCtl(epfd, op, fd, events, token), 'epoll_ctl');
}

/** Writes the tokens of ready fds (at most tokens.length, 256) into tokens, without waiting; returns how many. */
export function epollWait(epfd: number, tokens: Int32Array): number {
  return check(addon().epollWait(epfd, tokens), 'epoll_wait');
}

export const CLOCK_REALTIME = 0;
export const CLOCK_MONOTONIC = 1;
export const CLOCK_BOOTTIME = 7;

/** clock_gettime(id) as [sec, nsec]. */
export function clockGettime(id: number): [sec: number, nsec: number] {
  return check(addon().clockGettime(id), 'clock_gettime');
}

