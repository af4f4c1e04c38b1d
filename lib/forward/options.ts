// logforward's options and defaults: what applies to every destination unless its URI says
// otherwise, and the per-transport defaults with their provenance. Pure.

import { DEFAULT_QUERY_SOCKET } from '../protocol/constants.js';

export type TransportName = 'udp' | 'tcp' | 'tls' | 'relp' | 'relp+tls';
export type SyslogFormat = 'rfc5424' | 'rfc3164';

/** Default ports. UDP 514: RFC 5426 section 3.3; TLS 6514: RFC 5425 section 4.1. TCP and RELP have none. */
export const DEFAULT_PORTS: Partial<Record<TransportName, number>> = { udp: 514, tls: 6514 };

/**
 * Largest syslog message (bytes, without framing) per transport, unless `maxsize=` says otherwise.
 * UDP 2048: every receiver SHOULD take 2048 octets (RFC 5426 section 3.2). TCP, TLS and RELP 8192:
 * TLS receivers SHOULD take 8192 (RFC 5425 section 4.3.1), and rsyslog's default maxMessageSize
 * (which also bounds imtcp and imrelp) is 8k; an imtcp octet-counted frame larger than that
 * breaks its framing for the rest of the session.
 */
export const DEFAULT_MAX_SIZE: Record<TransportName, number> = { udp: 2048, tcp: 8192, tls: 8192, relp: 8192, 'relp+tls': 8192 };
/** RFC 3164 section 4.1: a BSD syslog packet is at most 1024 bytes (applies to UDP). */
export const RFC3164_UDP_MAX_SIZE = 1024;
/** The largest UDP payload over IPv4 (65535 - 8 - 20). */
export const UDP_MAX_PAYLOAD = 65_507;
/** The smallest maxsize accepted: room for a header, the structured data and a cut marker. */
export const MIN_MAX_SIZE = 480; // RFC 5426 section 3.2: what every IPv4 receiver MUST accept

/** Unacknowledged RELP messages in flight (librelp's default window). */
export const DEFAULT_RELP_WINDOW = 128;

export interface ForwardOptions {
  /** memlogd's query socket. */
  socket?: string;
  /** State file (cursor per destination); null: none (start from everything memlogd holds). */
  state?: string | null;
  /** HOSTNAME of every message (default: this machine's name). */
  hostname?: string;
  /** SD-ID of the structured data carrying instance and seq (`name@<private enterprise number>`). */
  sdId?: string;
  /** Facility of entries that carry none (RFC 5424 number). */
  facility?: number;
  format?: SyslogFormat;
  /** How often the state is saved while things move (ms). */
  saveIntervalMs?: number;
  /** fsync the state file (see FORWARD_DEFAULTS.fsync). */
  fsync?: boolean;
  backoffMinMs?: number;
  backoffMaxMs?: number;
  /** One line per state change (default: stderr, prefixed `logforward: `). */
  log?: (msg: string) => void;
}

export const FORWARD_DEFAULTS = {
  socket: DEFAULT_QUERY_SOCKET,
  /** /run is emptied at boot, as memlogd's memory is: a cursor is only good for one memlogd instance anyway. */
  state: '/run/logforward.state' as string | null,
  hostname: '',
  /**
   * 32473 is the enterprise number RFC 5612 reserves for documentation: a fleet should use its own
   * (`--sd-id memlogd@<PEN>`), as RFC 5424 section 7.2.2 requires of private SD-IDs.
   */
  sdId: 'memlogd@32473',
  facility: 1, // user
  format: 'rfc5424' as SyslogFormat,
  /** Not fsynced (below), a save costs a write and a rename: 4 a second keep what a kill -9 sends twice small. */
  saveIntervalMs: 250,
  /**
   * The state survives kill -9 without fsync (the page cache does). What fsync would add is
   * surviving a power failure or a kernel crash, which memlogd does not survive: its entries and
   * its instance are gone then, and so is every cursor into them. So the state is not fsynced,
   * and it can be written as often as sending needs (before every new `sent` mark).
   */
  fsync: false,
  backoffMinMs: 100,
  backoffMaxMs: 5000,
};

export type ForwardSettings = typeof FORWARD_DEFAULTS & { log: (m: string) => void };

/** The options with the defaults filled in. */
export function settingsOf(opts: ForwardOptions): ForwardSettings {
  const defined = Object.fromEntries(Object.entries(opts).filter(([, v]) => v !== undefined));
  return { ...FORWARD_DEFAULTS, log: (m: string) => process.stderr.write(`logforward: ${m}\n`), ...defined } as ForwardSettings;
}

/** An SD-ID for private use: `name@number[.number...]`, 1-32 printable ASCII without `= ] "` and space (RFC 5424 sections 6.3.2, 7.2.2). */
export function checkSdId(v: string): string {
  if (v.length > 32 || !/^[!#-\\^-~]+$/.test(v) || v.includes('=') || !/^[^@]+@\d+(\.\d+)*$/.test(v)) {
    throw new Error(`${JSON.stringify(v)} is not a private SD-ID: name@<enterprise number>, at most 32 printable characters without = ] " or space (RFC 5424 section 7.2.2)`);
  }
  return v;
}
