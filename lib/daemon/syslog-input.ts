// The syslog input (--socket-syslog, typically /dev/log): an AF_UNIX datagram socket taking
// messages as syslog(3), logger and busybox send them. Each message becomes entries of source
// `syslog.<ident>` with the severity and facility of its PRI. The sender's pid and uid come from
// the kernel (SO_PASSCRED), never from the message.
//
// Every local user may log here, so a sender must not be able to run memlogd out of names: each
// uid gets at most `identsPerUid` names of its own; beyond that, and for messages that name no
// program, its messages go to `syslog.uid<N>` with the ident kept in the text. Names starting
// `syslog.` come only from here (the logging socket refuses them).

import * as native from '../native/index.js';
import { SYSLOG_SOURCE_PREFIX } from '../protocol/constants.js';
import { packPri, priOfSyslog } from '../protocol/severity.js';
import { identName, parseSyslog } from '../protocol/syslog.js';
import type { WallClock } from './clock.js';
import { LineFramer } from './framing.js';
import type { Store } from './store.js';

/**
 * The largest datagram read whole: above the largest an AF_UNIX datagram socket sends with the
 * default net.core.wmem_max (212992, doubled by the kernel to 425984 less overhead, minus what
 * SO_SNDBUF leaves): a longer one is cut, with a note.
 */
export const SYSLOG_MAX_DATAGRAM = 256 * 1024;

/** Datagrams handled per readiness callback before yielding (log-socket.ts does the same). */
const DRAIN_PER_WAKEUP = 64;

/** A message without a valid PRI: user.notice, as RFC 3164 section 4.3.3 says a relay assumes. */
const DEFAULT_PRI = packPri(5, 1);

export interface SyslogContext {
  store: Store;
  clock: WallClock;
  maxLineLen: number;
  /** Names per uid before its messages share `syslog.uid<N>`. */
  identsPerUid: number;
  /** Source ids beyond which no new name is made (daemon.ts MAX_SOURCES). */
  maxSources: number;
  onIngest: () => void;
  log: (msg: string) => void;
  /** Records who sent to a source (kernel credentials). */
  sentBy: (src: number, pid: number, uid: number) => void;
}

/** What a graceful restart carries over: which names each uid made (the cap's bookkeeping). */
export interface SyslogState {
  idents: Record<string, string[]>;
}

export class SyslogInput {
  private poll: native.PollHandle | null = null;
  private buf: Buffer | null = Buffer.allocUnsafe(SYSLOG_MAX_DATAGRAM + 1);
  /** Per uid: the names of its own it made (`syslog.<ident>`). */
  private readonly idents = new Map<number, Set<string>>();
  /** Uids told they reached the cap (said once). */
  private readonly capped = new Set<number>();
  private readonly framer: LineFramer;
  /** Source ids by name (each message would otherwise look its name up in the store). */
  private readonly ids = new Map<string, number>();
  private src = 0;
  private pri = 0;

  constructor(readonly fd: number, private readonly ctx: SyslogContext, state?: SyslogState) {
    for (const [uid, names] of Object.entries(state?.idents ?? {})) this.idents.set(Number(uid), new Set(names));
    const { store, clock } = ctx;
    this.framer = new LineFramer(ctx.maxLineLen, (b, s, e, f) => store.append(this.src, b, s, e, clock.sec, clock.nsec, f, this.pri));
  }

  start(): void {
    if (this.poll) return;
    native.setNonBlocking(this.fd, true);
    native.setPassCred(this.fd, true);
    this.poll = native.pollStart(this.fd, native.POLL_READABLE, (status: number) => {
      if (status < 0) this.ctx.log(`syslog socket error: ${native.errnoError(status, 'poll').message}`);
      else this.drain();
    });
  }

  /** Stops reading (a graceful restart in progress); start() goes on. */
  stop(): void {
    if (this.poll) native.pollStop(this.poll);
    this.poll = null;
  }

  close(): void {
    this.stop();
    this.buf = null;
    try {
      native.close(this.fd);
    } catch {
      // already closed
    }
  }

  exportState(): SyslogState {
    return { idents: Object.fromEntries([...this.idents].map(([uid, s]) => [String(uid), [...s]])) };
  }

  private drain(): void {
    const buf = this.buf;
    if (!buf) return;
    this.ctx.clock.now();
    let took = 0;
    for (; took < DRAIN_PER_WAKEUP; took++) {
      let r: native.RecvResult | null;
      try {
        r = native.recvmsg(this.fd, buf);
      } catch (err) {
        this.ctx.log(`syslog socket error: ${(err as Error).message}`);
        break;
      }
      if (r === null) break;
      this.message(buf, r);
    }
    if (took > 0) this.ctx.onIngest();
  }

  private message(buf: Buffer, r: native.RecvResult): void {
    if (r.fds.length > 0) {
      for (const fd of r.fds) native.close(fd);
      this.ctx.log(`syslog message from pid ${r.pid} uid ${r.uid} carried ${r.fds.length} fd(s): closed them (this socket takes text only)`);
    }
    const end = Math.min(r.bytes, SYSLOG_MAX_DATAGRAM);
    const m = parseSyslog(buf, 0, end);
    let prefix = '';
    let name: string;
    const own = m.ident !== null ? `${SYSLOG_SOURCE_PREFIX}${identName(m.ident)}` : null;
    if (own !== null && this.mayUse(r.uid, own)) name = own;
    else {
      name = `${SYSLOG_SOURCE_PREFIX}uid${r.uid}`;
      if (m.ident !== null) prefix = `${m.ident}: `;
    }
    // RFC 5424's MSGID and structured data stay with the text: nothing the sender said is lost
    if (m.format === '5424') {
      if (m.structured !== null && m.structured !== '-') prefix += `${m.structured} `;
      if (m.msgId !== null && m.msgId !== '-') prefix = `${m.msgId} ${prefix}`;
    }
    const src = this.sourceFor(name, r);
    if (src < 0) return;
    this.src = src;
    this.pri = m.pri !== null ? priOfSyslog(m.pri) : DEFAULT_PRI;
    this.ctx.sentBy(src, r.pid, r.uid);
    if (prefix) this.framer.push(Buffer.from(prefix, 'utf8'));
    if (m.end > m.start) this.framer.push(buf.subarray(m.start, m.end));
    else if (!prefix) this.ctx.store.append(src, buf, m.start, m.start, this.ctx.clock.sec, this.ctx.clock.nsec, 0, this.pri);
    this.framer.end();
    if (r.fullLength > SYSLOG_MAX_DATAGRAM) {
      this.ctx.log(`syslog message from pid ${r.pid} uid ${r.uid} (source ${JSON.stringify(name)}) was ${r.fullLength} bytes: ` +
        `kept the first ${SYSLOG_MAX_DATAGRAM}, the kernel discarded the rest`);
    }
  }

  /** May uid use this name of its own? (Names it made before, or a new one under the cap.) */
  private mayUse(uid: number, name: string): boolean {
    let mine = this.idents.get(uid);
    if (mine?.has(name)) return true;
    if ((mine?.size ?? 0) >= this.ctx.identsPerUid) {
      if (!this.capped.has(uid)) {
        this.capped.add(uid);
        this.ctx.log(`uid ${uid} has sent syslog messages as ${this.ctx.identsPerUid} programs: ` +
          `its messages from other programs go to ${JSON.stringify(`${SYSLOG_SOURCE_PREFIX}uid${uid}`)}, the program named in the text`);
      }
      return false;
    }
    if (!mine) this.idents.set(uid, (mine = new Set()));
    mine.add(name);
    return true;
  }

  private sourceFor(name: string, r: native.RecvResult): number {
    const known = this.ids.get(name);
    if (known !== undefined) return known;
    const bytes = Buffer.from(name, 'utf8');
    if (this.ctx.store.sources.length >= this.ctx.maxSources && !this.ctx.store.hasSource(bytes)) {
      this.ctx.log(`dropped a syslog message from pid ${r.pid} uid ${r.uid} for new source ${JSON.stringify(name)}: already tracking ${this.ctx.maxSources} sources`);
      return -1;
    }
    const src = this.ctx.store.source(bytes);
    this.ids.set(name, src);
    return src;
  }
}
