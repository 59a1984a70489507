/**
 * XXH64 in plain JavaScript, for hosts where the native `@node-rs/xxhash` addon cannot load (the
 * agent on a foreign architecture). It returns exactly what the native one returns, so digests
 * taken at either end compare. 64-bit lanes are kept as two uint32 halves: BigInt arithmetic is
 * an order of magnitude slower.
 */

// Scratch results of the 64-bit helpers (hi, lo); module-level so the hot loop allocates nothing.
let rh = 0;
let rl = 0;

const P1H = 0x9e3779b1, P1L = 0x85ebca87;
const P2H = 0xc2b2ae3d, P2L = 0x27d4eb4f;
const P3H = 0x165667b1, P3L = 0x9e3779f9;
const P4H = 0x85ebca77, P4L = 0xc2b2ae63;
const P5H = 0x27d4eb2f, P5L = 0x165667c5;

function add(ah: number, al: number, bh: number, bl: number): void {
  const lo = al + bl;
  rl = lo >>> 0;
  rh = (ah + bh + (lo > 0xffffffff ? 1 : 0)) >>> 0;
}

function mul(ah: number, al: number, bh: number, bl: number): void {
  const a0 = al & 0xffff, a1 = al >>> 16, b0 = bl & 0xffff, b1 = bl >>> 16;
  const mid = a0 * b1 + a1 * b0;
  const low = a0 * b0 + (mid % 65536) * 65536;
  rl = low >>> 0;
  rh = (a1 * b1 + Math.floor(mid / 65536) + Math.floor(low / 4294967296) + Math.imul(ah, bl) + Math.imul(al, bh)) >>> 0;
}

function rotl(h: number, l: number, r: number): void {
  if (r >= 32) {
    const t = h;
    h = l;
    l = t;
    r -= 32;
  }
  if (r === 0) {
    rh = h;
    rl = l;
    return;
  }
  rh = ((h << r) | (l >>> (32 - r))) >>> 0;
  rl = ((l << r) | (h >>> (32 - r))) >>> 0;
}

/** round(acc, input) = rotl(acc + input * P2, 31) * P1; result in (rh, rl). */
function round(acch: number, accl: number, inh: number, inl: number): void {
  mul(inh, inl, P2H, P2L);
  add(acch, accl, rh, rl);
  rotl(rh, rl, 31);
  mul(rh, rl, P1H, P1L);
}

function mergeRound(acch: number, accl: number, vh: number, vl: number): void {
  round(0, 0, vh, vl);
  const xh = (acch ^ rh) >>> 0, xl = (accl ^ rl) >>> 0;
  mul(xh, xl, P1H, P1L);
  add(rh, rl, P4H, P4L);
}

/** Hashes whole 32-byte stripes; returns the converged accumulator in (rh, rl). */
function stripes(view: DataView, end: number): void {
  add(P1H, P1L, P2H, P2L);
  let v1h = rh, v1l = rl, v2h = P2H, v2l = P2L, v3h = 0, v3l = 0;
  add(~P1H >>> 0, ~P1L >>> 0, 0, 1); // -P1 = ~P1 + 1
  let v4h = rh, v4l = rl;
  for (let p = 0; p + 32 <= end; p += 32) {
    round(v1h, v1l, view.getUint32(p + 4, true), view.getUint32(p, true)); v1h = rh; v1l = rl;
    round(v2h, v2l, view.getUint32(p + 12, true), view.getUint32(p + 8, true)); v2h = rh; v2l = rl;
    round(v3h, v3l, view.getUint32(p + 20, true), view.getUint32(p + 16, true)); v3h = rh; v3l = rl;
    round(v4h, v4l, view.getUint32(p + 28, true), view.getUint32(p + 24, true)); v4h = rh; v4l = rl;
  }
  rotl(v1h, v1l, 1); let hh = rh, hl = rl;
  rotl(v2h, v2l, 7); add(hh, hl, rh, rl); hh = rh; hl = rl;
  rotl(v3h, v3l, 12); add(hh, hl, rh, rl); hh = rh; hl = rl;
  rotl(v4h, v4l, 18); add(hh, hl, rh, rl); hh = rh; hl = rl;
  mergeRound(hh, hl, v1h, v1l); mergeRound(rh, rl, v2h, v2l);
  hh = rh; hl = rl;
  mergeRound(hh, hl, v3h, v3l); hh = rh; hl = rl;
  mergeRound(hh, hl, v4h, v4l);
}

/** The tail (fewer than 32 bytes) and the final avalanche, starting from h in (hh, hl). */
function finish(view: DataView, bytes: Uint8Array, p: number, hh: number, hl: number): bigint {
  const end = bytes.length;
  for (; p + 8 <= end; p += 8) {
    round(0, 0, view.getUint32(p + 4, true), view.getUint32(p, true));
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 27);
    mul(rh, rl, P1H, P1L);
    add(rh, rl, P4H, P4L);
    hh = rh; hl = rl;
  }
  if (p + 4 <= end) {
    mul(0, view.getUint32(p, true), P1H, P1L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 23);
    mul(rh, rl, P2H, P2L);
    add(rh, rl, P3H, P3L);
    hh = rh; hl = rl;
    p += 4;
  }
  for (; p < end; p++) {
    mul(0, bytes[p]!, P5H, P5L);
    rotl((hh ^ rh) >>> 0, (hl ^ rl) >>> 0, 11);
    mul(rh, rl, P1H, P1L);
    hh = rh; hl = rl;
  }
  hl = (hl ^ (hh >>> 1)) >>> 0; // h ^= h >> 33
  mul(hh, hl, P2H, P2L); hh = rh; hl = rl;
  hl = (hl ^ ((hl >>> 29) | (hh << 3))) >>> 0; // h ^= h >> 29
  hh = (hh ^ (hh >>> 29)) >>> 0;
  return avalancheTail(hh, hl);
}

function avalancheTail(hh: number, hl: number): bigint {
  mul(hh, hl, P3H, P3L); hh = rh; hl = rl;
  hl = (hl ^ hh) >>> 0; // h ^= h >> 32
  return (BigInt(hh) << 32n) | BigInt(hl);
}

/** XXH64 with seed 0 of `data`, as a bigint (the same value `@node-rs/xxhash` returns). */
export function xxh64Js(data: Uint8Array): bigint {
  const view = new DataView(data.buffer, data.byteOffset, data.byteLength);
  const n = data.byteLength;
  let hh: number, hl: number;
  const whole = n - (n % 32);
  if (n >= 32) {
    stripes(view, whole);
    hh = rh; hl = rl;
  } else {
    hh = P5H; hl = P5L;
  }
  add(hh, hl, Math.floor(n / 4294967296), n >>> 0);
  return finish(view, data, n >= 32 ? whole : 0, rh, rl);
}
