// Source-name globs of v2 requests and logread: `*`, `?`, `[...]` (`[!...]` negated). Pure.

import { ProtocolError } from './errors.js';

/** A glob as an anchored RegExp; throws ProtocolError(ERR_BAD_REQUEST) on a malformed one. */
export function globToRegExp(glob: string): RegExp {
  let re = '^';
  for (let i = 0; i < glob.length; i++) {
    const c = glob[i];
    if (c === '*') re += '.*';
    else if (c === '?') re += '.';
    else if (c === '[') {
      const close = glob.indexOf(']', i + 2);
      if (close < 0) throw new ProtocolError('ERR_BAD_REQUEST', `unclosed [ in glob ${JSON.stringify(glob)}`);
      let cls = glob.slice(i + 1, close);
      if (cls.startsWith('!')) cls = '^' + cls.slice(1);
      re += '[' + cls.replace(/\\/g, '\\\\') + ']';
      i = close;
    } else re += c.replace(/[.+^${}()|\\\]]/g, '\\$&');
  }
  try {
    return new RegExp(re + '$', 's');
  } catch {
    throw new ProtocolError('ERR_BAD_REQUEST', `bad glob ${JSON.stringify(glob)}`);
  }
}
