// A dependency-free SVG chart: throughput by number of sources, memlogd next to the baseline.

interface Row {
  scenario: string;
  sources?: number;
  linesPerSec?: number;
  baselineLinesPerSec?: number | null;
  latencyMs?: unknown;
}

export function throughputChart(rows: Row[]): string {
  const pts = rows.filter((r) => r.sources && r.linesPerSec && !r.latencyMs) as Required<Row>[];
  const W = 700;
  const H = 360;
  const L = 80;
  const B = 50;
  const T = 40;
  const groupW = (W - L - 20) / Math.max(1, pts.length);
  const max = Math.max(1, ...pts.flatMap((p) => [p.linesPerSec, p.baselineLinesPerSec ?? 0]));
  const top = Math.ceil(max / 500_000) * 500_000;
  const y = (v: number) => H - B - ((H - B - T) * v) / top;
  const el: string[] = [];
  el.push(`<text x="${W / 2}" y="22" text-anchor="middle" font-size="15" font-weight="bold">Lines/s by number of sources (100-byte lines, follower attached)</text>`);
  for (let v = 0; v <= top; v += top / 5) {
    el.push(`<line x1="${L}" x2="${W - 20}" y1="${y(v)}" y2="${y(v)}" stroke="#ddd"/>`);
    el.push(`<text x="${L - 6}" y="${y(v) + 4}" text-anchor="end" font-size="11">${(v / 1e6).toFixed(1)}M</text>`);
  }
  pts.forEach((p, i) => {
    const x0 = L + i * groupW + groupW * 0.15;
    const bw = groupW * 0.33;
    el.push(`<rect x="${x0}" y="${y(p.linesPerSec)}" width="${bw}" height="${y(0) - y(p.linesPerSec)}" fill="#2b7bb9"/>`);
    el.push(`<text x="${x0 + bw / 2}" y="${y(p.linesPerSec) - 4}" text-anchor="middle" font-size="10">${(p.linesPerSec / 1e6).toFixed(2)}M</text>`);
    if (p.baselineLinesPerSec) {
      el.push(`<rect x="${x0 + bw}" y="${y(p.baselineLinesPerSec)}" width="${bw}" height="${y(0) - y(p.baselineLinesPerSec)}" fill="#bbb"/>`);
      el.push(`<text x="${x0 + 1.5 * bw}" y="${y(p.baselineLinesPerSec) - 4}" text-anchor="middle" font-size="10">${(p.baselineLinesPerSec / 1e6).toFixed(2)}M</text>`);
    }
    el.push(`<text x="${x0 + bw}" y="${H - B + 16}" text-anchor="middle" font-size="12">${p.sources} source${p.sources > 1 ? 's' : ''}</text>`);
  });
  el.push(`<rect x="${L}" y="${H - 22}" width="12" height="12" fill="#2b7bb9"/><text x="${L + 16}" y="${H - 12}" font-size="12">memlogd, end to end (follower gets every line)</text>`);
  el.push(`<rect x="${L + 330}" y="${H - 22}" width="12" height="12" fill="#bbb"/><text x="${L + 346}" y="${H - 12}" font-size="12">baseline: trivial reader, same pipes</text>`);
  return `<svg xmlns="http://www.w3.org/2000/svg" width="${W}" height="${H}" font-family="sans-serif">\n<rect width="100%" height="100%" fill="white"/>\n${el.join('\n')}\n</svg>\n`;
}
