// The physical limit of reading memlogd: a v1 dump read from the query socket and its newlines
// counted, nothing else (bench/paths.ts runs it beside logread).
import net from 'node:net';
import { MODE_DUMP } from '../lib/protocol/constants.js';

const c = net.createConnection({ path: process.argv[2] });
let n = 0;
c.on('connect', () => c.write(Buffer.from([MODE_DUMP])));
c.on('data', (d: Buffer) => {
  for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) n++;
});
c.on('close', () => process.stdout.write(`${n}\n`));
