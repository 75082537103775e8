'use strict';
// Stands in for crypto inside dist/vendor-mysql2.cjs. Loading Node's crypto costs more CPU than
// any other built-in on hactl's notify path (its ciphers, keys, X.509 and streams, ~15 ms on the
// loaded 2-core box), and a promotion or demotion needs one thing of it: mysql2's
// mysql_native_password answer, three SHA-1s of a few dozen bytes. Those are computed here in
// plain JavaScript; anything else (another hash, caching_sha2_password's RSA, randomBytes) loads
// the real module on first use and is answered by it. test/notify/sha1-crypto.test.ts compares
// the digests with Node's.
let real;
const crypto = () => (real ??= require('node:crypto'));

const rotl = (x, n) => (x << n) | (x >>> (32 - n));

/** SHA-1 (FIPS 180-4) of a whole message. */
function sha1(message) {
  const length = message.length;
  const padded = Buffer.alloc(((length + 8) >> 6) * 64 + 64);
  message.copy(padded);
  padded[length] = 0x80;
  padded.writeUInt32BE(Math.floor(length / 0x20000000), padded.length - 8);
  padded.writeUInt32BE((length * 8) >>> 0, padded.length - 4);
  let h0 = 0x67452301;
  let h1 = 0xefcdab89;
  let h2 = 0x98badcfe;
  let h3 = 0x10325476;
  let h4 = 0xc3d2e1f0;
  const w = new Int32Array(80);
  for (let offset = 0; offset < padded.length; offset += 64) {
    for (let i = 0; i < 16; i++) w[i] = padded.readInt32BE(offset + i * 4);
    for (let i = 16; i < 80; i++) w[i] = rotl(w[i - 3] ^ w[i - 8] ^ w[i - 14] ^ w[i - 16], 1);
    let a = h0;
    let b = h1;
    let c = h2;
    let d = h3;
    let e = h4;
    for (let i = 0; i < 80; i++) {
      let f;
      let k;
      if (i < 20) {
        f = (b & c) | (~b & d);
        k = 0x5a827999;
      } else if (i < 40) {
        f = b ^ c ^ d;
        k = 0x6ed9eba1;
      } else if (i < 60) {
        f = (b & c) | (b & d) | (c & d);
        k = 0x8f1bbcdc;
      } else {
        f = b ^ c ^ d;
        k = 0xca62c1d6;
      }
      const t = (rotl(a, 5) + f + e + k + w[i]) | 0;
      e = d;
      d = c;
      c = rotl(b, 30);
      b = a;
      a = t;
    }
    h0 = (h0 + a) | 0;
    h1 = (h1 + b) | 0;
    h2 = (h2 + c) | 0;
    h3 = (h3 + d) | 0;
    h4 = (h4 + e) | 0;
  }
  const digest = Buffer.alloc(20);
  [h0, h1, h2, h3, h4].forEach((h, i) => digest.writeInt32BE(h, i * 4));
  return digest;
}

/** The part of crypto.Hash mysql2's auth uses: update() (Buffer or string) and digest(). */
class Sha1 {
  constructor() {
    this.chunks = [];
    this.done = false;
  }
  update(data, encoding) {
    if (this.done) throw new Error('Digest already called');
    this.chunks.push(typeof data === 'string' ? Buffer.from(data, encoding ?? 'utf8') : Buffer.from(data));
    return this;
  }
  digest(encoding) {
    if (this.done) throw new Error('Digest already called');
    this.done = true;
    const digest = sha1(Buffer.concat(this.chunks));
    return encoding === undefined || encoding === 'buffer' ? digest : digest.toString(encoding);
  }
}

function createHash(algorithm, options) {
  if (options === undefined && String(algorithm).toLowerCase() === 'sha1') return new Sha1();
  return crypto().createHash(algorithm, options);
}

module.exports = new Proxy(
  { createHash },
  {
    get: (own, key) => (key in own ? own[key] : Reflect.get(crypto(), key)),
    has: (own, key) => key in own || Reflect.has(crypto(), key),
  },
);
module.exports.sha1 = sha1;
