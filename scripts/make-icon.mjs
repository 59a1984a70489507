// Draws the app icon (a 512×512 PNG: two disks and an arrow, "lift and shift") with no image
// library: raw RGBA rows, zlib-deflated into a PNG. electron-builder derives .ico and .icns from it.
import { deflateSync } from 'node:zlib';
import { writeFileSync } from 'node:fs';

const S = 512;
const px = Buffer.alloc(S * S * 4);
const set = (x, y, [r, g, b, a]) => {
  const i = (y * S + x) * 4;
  px[i] = r; px[i + 1] = g; px[i + 2] = b; px[i + 3] = a;
};
const inRound = (x, y, x0, y0, x1, y1, rad) => {
  const cx = Math.min(Math.max(x, x0 + rad), x1 - rad);
  const cy = Math.min(Math.max(y, y0 + rad), y1 - rad);
  return (x - cx) ** 2 + (y - cy) ** 2 <= rad * rad && x >= x0 && x <= x1 && y >= y0 && y <= y1;
};
for (let y = 0; y < S; y++) {
  for (let x = 0; x < S; x++) {
    let c = [0, 0, 0, 0];
    if (inRound(x, y, 16, 16, 496, 496, 96)) c = [24, 72, 160, 255]; // background tile
    if (inRound(x, y, 70, 150, 230, 360, 28)) c = [236, 242, 252, 255]; // source disk
    if (inRound(x, y, 282, 150, 442, 360, 28)) c = [120, 220, 170, 255]; // target disk
    for (const yy of [200, 250, 300]) {
      if (x > 95 && x < 205 && Math.abs(y - yy) < 7) c = [24, 72, 160, 255];
      if (x > 307 && x < 417 && Math.abs(y - yy) < 7) c = [24, 100, 80, 255];
    }
    if (y > 395 && y < 420 && x > 120 && x < 360) c = [255, 255, 255, 255]; // arrow shaft
    if (x >= 360 && x < 410 && Math.abs(y - 407) < (410 - x) * 0.9) c = [255, 255, 255, 255]; // arrow head
    set(x, y, c);
  }
}
const rows = Buffer.alloc(S * (S * 4 + 1));
for (let y = 0; y < S; y++) px.copy(rows, y * (S * 4 + 1) + 1, y * S * 4, (y + 1) * S * 4);
const crcTable = Array.from({ length: 256 }, (_, n) => {
  let c = n;
  for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1;
  return c >>> 0;
});
const crc = (buf) => {
  let c = 0xffffffff;
  for (const b of buf) c = crcTable[(c ^ b) & 0xff] ^ (c >>> 8);
  return (c ^ 0xffffffff) >>> 0;
};
const chunk = (type, data) => {
  const len = Buffer.alloc(4);
  len.writeUInt32BE(data.length);
  const body = Buffer.concat([Buffer.from(type), data]);
  const sum = Buffer.alloc(4);
  sum.writeUInt32BE(crc(body));
  return Buffer.concat([len, body, sum]);
};
const ihdr = Buffer.alloc(13);
ihdr.writeUInt32BE(S, 0);
ihdr.writeUInt32BE(S, 4);
ihdr[8] = 8; ihdr[9] = 6; // 8-bit RGBA
const png = Buffer.concat([Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]), chunk('IHDR', ihdr), chunk('IDAT', deflateSync(rows, { level: 9 })), chunk('IEND', Buffer.alloc(0))]);
writeFileSync(process.argv[2] ?? 'resources/icons/icon.png', png);
console.log(`icon: ${png.length} bytes`);
