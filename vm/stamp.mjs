// Copies the guest's serial console (stdin) to stdout, every line prefixed with the host's
// milliseconds since $VM_T0_MS (epoch ms taken just before QEMU started):
//   "  4230 vm-mark init 2.75"
// The guest's tty ends lines with \r\n; the \r is dropped. Read as latin1 so that no byte the
// guest sends can fail to decode.
const t0 = Number(process.env.VM_T0_MS) || Date.now();
let partial = '';
const stamp = (line) => `${String(Date.now() - t0).padStart(6)} ${line.replace(/\r/g, '')}\n`;

process.stdin.setEncoding('latin1');
process.stdin.on('data', (chunk) => {
  const lines = (partial + chunk).split('\n');
  partial = lines.pop();
  if (lines.length) process.stdout.write(lines.map(stamp).join(''));
});
process.stdin.on('end', () => {
  if (partial) process.stdout.write(stamp(partial));
});
