// Destinations as URIs, logspout style: `relp://logs.example:2514?source=web*&priority=warning`.
// The scheme is the transport, the query holds this destination's filters and options. Pure.

import { ProtocolError } from '../protocol/errors.js';
import { compileGlob } from '../protocol/glob.js';
import { parseFacility, parseSeverity } from '../protocol/severity.js';
import type { Stream } from '../protocol/v2.js';
import {
  DEFAULT_MAX_SIZE, DEFAULT_PORTS, DEFAULT_RELP_WINDOW, MIN_MAX_SIZE, RFC3164_UDP_MAX_SIZE, UDP_MAX_PAYLOAD,
  type SyslogFormat, type TransportName,
} from './options.js';

export interface TlsSpec {
  /** PEM files: the CAs the server's certificate must chain to (default: Node's bundled CAs). */
  ca?: string;
  /** PEM files of a client certificate and its key, for servers that ask for one. */
  cert?: string;
  key?: string;
  /** The name the server's certificate must carry (default: the host). */
  servername?: string;
  /** Certificate verification; on unless `verify=off`. */
  verify: boolean;
}

export interface Destination {
  /** As given on the command line (certificate paths and all). */
  uri: string;
  /** What the state file knows it by: transport, address and filters (what decides which messages go there). */
  key: string;
  /** For log lines: the URI without its query. */
  label: string;
  transport: TransportName;
  host: string;
  port: number;
  /** memlogd-side filters (v2 request): source globs, exclusions, stream. */
  sources: string[];
  exclude: string[];
  stream?: Stream;
  /** Only entries at least this severe (0 emerg ... 7 debug; 7: all). */
  minSeverity: number;
  format: SyslogFormat;
  /** Facility of entries that carry none. */
  facility: number;
  /** Largest syslog message in bytes (framing not counted). */
  maxSize: number;
  /** RELP: unacknowledged messages in flight. */
  window: number;
  /** TCP/TLS: bytes treated as possibly not received after a broken connection (default: from the kernel's buffer sizes). */
  unsure?: number;
  tls: TlsSpec | null;
}

/** What the command line gives every destination unless its URI overrides it. */
export interface DestinationDefaults {
  format: SyslogFormat;
  facility: number;
}

const SCHEMES: Record<string, TransportName> = { 'udp:': 'udp', 'tcp:': 'tcp', 'tls:': 'tls', 'relp:': 'relp', 'relp+tls:': 'relp+tls' };
const PARAMS = new Set(['source', 'exclude', 'stream', 'priority', 'format', 'facility', 'maxsize', 'window', 'unsure',
  'ca', 'cert', 'key', 'servername', 'verify']);
const TLS_PARAMS = ['ca', 'cert', 'key', 'servername', 'verify'];

/** A byte count: `8192`, `64k`, `1M` (powers of 1024). */
export function parseBytes(v: string): number | null {
  const m = /^(\d+)([kKmM])?$/.exec(v);
  if (!m) return null;
  const n = Number(m[1]) * (m[2] ? 1024 ** (m[2].toLowerCase() === 'k' ? 1 : 2) : 1);
  return Number.isSafeInteger(n) ? n : null;
}

/** Parses one destination; throws an Error whose message says what is wrong (a usage error to the caller). */
export function parseDestination(text: string, d: DestinationDefaults): Destination {
  const bad = (m: string) => new Error(`destination ${JSON.stringify(text)}: ${m}`);
  let u: URL;
  try {
    u = new URL(text);
  } catch {
    throw bad('not a URI such as relp://host:2514 or udp://host:514');
  }
  const transport = SCHEMES[u.protocol];
  if (!transport) throw bad(`unknown transport ${JSON.stringify(u.protocol.slice(0, -1))} (udp, tcp, tls, relp, relp+tls)`);
  if (u.username || u.password || (u.pathname && u.pathname !== '/') || u.hash) throw bad('only host, port and query parameters are allowed');
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  if (!host) throw bad('no host');
  const port = u.port ? Number(u.port) : DEFAULT_PORTS[transport];
  if (port === undefined) throw bad(`${transport} has no default port: give one (${transport}://${host}:PORT)`);

  const q = u.searchParams;
  for (const k of new Set(q.keys())) {
    if (!PARAMS.has(k)) throw bad(`unknown parameter ${JSON.stringify(k)}`);
    if (k !== 'source' && k !== 'exclude' && q.getAll(k).length > 1) throw bad(`${k} given twice`);
  }
  const tlsTransport = transport === 'tls' || transport === 'relp+tls';
  for (const k of TLS_PARAMS) if (q.has(k) && !tlsTransport) throw bad(`${k} applies to tls:// and relp+tls:// only`);
  if (q.has('window') && transport !== 'relp' && transport !== 'relp+tls') throw bad('window applies to RELP only');
  if (q.has('unsure') && transport !== 'tcp' && transport !== 'tls') throw bad('unsure applies to tcp:// and tls:// only');

  const sources = q.getAll('source');
  const exclude = q.getAll('exclude');
  for (const g of [...sources, ...exclude]) {
    try {
      compileGlob(g);
    } catch (err) {
      throw bad((err as ProtocolError).message);
    }
  }
  const stream = q.get('stream') ?? undefined;
  if (stream !== undefined && stream !== 'stdout' && stream !== 'stderr') throw bad('stream must be stdout or stderr');

  let minSeverity = 7;
  const pr = q.get('priority');
  if (pr !== null) {
    const s = parseSeverity(pr);
    if (s === null) throw bad(`priority ${JSON.stringify(pr)} is not a severity (emerg ... debug, or 0-7)`);
    minSeverity = s;
  }
  let format = d.format;
  const f = q.get('format');
  if (f !== null) {
    if (f !== 'rfc5424' && f !== 'rfc3164') throw bad('format must be rfc5424 or rfc3164');
    format = f;
  }
  let facility = d.facility;
  const fa = q.get('facility');
  if (fa !== null) {
    const n = parseFacility(fa);
    if (n === null) throw bad(`facility ${JSON.stringify(fa)} is not a facility (kern, user, daemon, local0 ... or 0-23)`);
    facility = n;
  }
  let maxSize = format === 'rfc3164' && transport === 'udp' ? RFC3164_UDP_MAX_SIZE : DEFAULT_MAX_SIZE[transport];
  const ms = q.get('maxsize');
  if (ms !== null) {
    const n = parseBytes(ms);
    if (n === null || n < MIN_MAX_SIZE) throw bad(`maxsize must be a byte count of at least ${MIN_MAX_SIZE}`);
    maxSize = n;
  }
  if (transport === 'udp' && maxSize > UDP_MAX_PAYLOAD) throw bad(`maxsize over UDP is at most ${UDP_MAX_PAYLOAD} (one datagram)`);
  let window = DEFAULT_RELP_WINDOW;
  const w = q.get('window');
  if (w !== null) {
    if (!/^\d+$/.test(w) || Number(w) < 1 || Number(w) > 65536) throw bad('window must be 1-65536');
    window = Number(w);
  }
  let unsure: number | undefined;
  const un = q.get('unsure');
  if (un !== null) {
    const n = parseBytes(un);
    if (n === null) throw bad('unsure must be a byte count');
    unsure = n;
  }
  let tls: TlsSpec | null = null;
  if (tlsTransport) {
    const verify = q.get('verify') ?? 'on';
    if (!['on', 'off', 'true', 'false', '1', '0'].includes(verify)) throw bad('verify must be on or off');
    tls = { verify: verify === 'on' || verify === 'true' || verify === '1' };
    for (const k of ['ca', 'cert', 'key', 'servername'] as const) {
      const v = q.get(k);
      if (v !== null) tls[k] = v;
    }
    if ((tls.cert === undefined) !== (tls.key === undefined)) throw bad('cert and key go together');
  }

  const label = `${transport}://${host.includes(':') ? `[${host}]` : host}:${port}`;
  const keyQuery = new URLSearchParams();
  for (const s of sources) keyQuery.append('source', s);
  for (const s of exclude) keyQuery.append('exclude', s);
  if (stream) keyQuery.append('stream', stream);
  if (pr !== null) keyQuery.append('priority', String(minSeverity));
  const kq = keyQuery.toString();
  return {
    uri: text, key: kq ? `${label}?${kq}` : label, label, transport, host, port, sources, exclude, stream, minSeverity,
    format, facility, maxSize, window, unsure, tls,
  };
}
