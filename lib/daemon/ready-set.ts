// Many fds behind one readiness callback: the pipes and sockets memlogd reads. One epoll set of
// memlogd's own, watched on Node's event loop by one uv_poll (the addon's pollStart on the epoll
// fd). A uv_poll per fd cost ~1.2 KB each (measured: 5,000 polls, RSS after GC); here an fd
// costs the kernel's epoll entry and one array slot.
//
// Level-triggered: an fd that was not drained (its reader yields after a number of reads) is
// reported again at the next turn of the loop, after everything else that was ready.

import * as native from '../native/index.js';

/** Something read when its fd is ready: readable, hung up or in error (its read says which). */
export interface Watched {
  readable(): void;
}

/** Ready fds handled per callback (the addon's epollWait returns at most 256). */
const TOKENS_PER_WAKEUP = 256;

export class ReadySet {
  private readonly epfd: number;
  private poll: native.PollHandle | null;
  /** By token; null for a free token. */
  private readonly watched: Array<Watched | null> = [];
  private readonly free: number[] = [];
  private readonly tokens = new Int32Array(TOKENS_PER_WAKEUP);

  constructor(onError: (err: Error) => void) {
    this.epfd = native.epollCreate();
    this.poll = native.pollStart(this.epfd, native.POLL_READABLE, (status) => {
      if (status < 0) onError(native.errnoError(status, 'poll'));
      else this.dispatch();
    });
  }

  /** Watches fd for readability until remove(); returns its token. Throws what epoll_ctl throws. */
  add(fd: number, w: Watched): number {
    const token = this.free.length > 0 ? this.free.pop()! : this.watched.length;
    try {
      native.epollCtl(this.epfd, native.EPOLL_CTL_ADD, fd, native.EPOLLIN, token);
    } catch (err) {
      if (token < this.watched.length) this.free.push(token);
      throw err;
    }
    this.watched[token] = w;
    return token;
  }

  /**
   * Stops watching fd. Must come before fd is closed: epoll forgets an fd only when its file
   * description closes, and a socket's description is shared with its sender.
   */
  remove(fd: number, token: number): void {
    try {
      native.epollCtl(this.epfd, native.EPOLL_CTL_DEL, fd, 0, 0);
    } catch {
      // not registered (any more): nothing to undo
    }
    this.watched[token] = null;
    this.free.push(token);
  }

  private dispatch(): void {
    const n = native.epollWait(this.epfd, this.tokens);
    for (let i = 0; i < n; i++) this.watched[this.tokens[i]]?.readable();
  }

  /** Stops and closes the set (what it watched is the owners' to close). */
  close(): void {
    if (this.poll === null) return;
    native.pollStop(this.poll);
    this.poll = null;
    native.close(this.epfd);
  }
}
