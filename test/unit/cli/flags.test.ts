import { describe, expect, it } from 'vitest';
import { goStyleArgs } from '../../../lib/cli/flags.js';

describe('goStyleArgs', () => {
  const longs = ['socket-log', 'max-lines', 'socket'];
  it('rewrites single-dash long names and keeps short ones', () => {
    expect(goStyleArgs(['-socket-log', 'a', '-max-lines=5', '-f', '-F', '--socket', 'q'], longs))
      .toEqual(['--socket-log', 'a', '--max-lines=5', '-f', '-F', '--socket', 'q']);
  });
  it('leaves unknown names and everything after -- alone', () => {
    expect(goStyleArgs(['-bogus', '--', '-socket-log'], longs)).toEqual(['-bogus', '--', '-socket-log']);
  });
  it('reads Go boolean forms', () => {
    expect(goStyleArgs(['-daemonize=true'], [], ['daemonize'])).toEqual(['--daemonize']);
    expect(goStyleArgs(['-daemonize=false'], [], ['daemonize'])).toEqual([]);
    expect(goStyleArgs(['-daemonize'], [], ['daemonize'])).toEqual(['--daemonize']);
    expect(() => goStyleArgs(['-daemonize=maybe'], [], ['daemonize'])).toThrow();
  });
});
