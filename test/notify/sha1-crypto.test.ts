/**
 * scripts/sha1-crypto.cjs, the crypto stand-in inside dist/vendor-mysql2.cjs: its SHA-1 must be
 * Node's, byte for byte, or every mysql_native_password login of notify fails; anything else must
 * be the real module's.
 */
import { createHash, randomBytes } from 'node:crypto';
import { createRequire } from 'node:module';
import { describe, expect, it } from 'vitest';

interface Hash {
  update(data: Buffer | string, encoding?: BufferEncoding): Hash;
  digest(): Buffer;
  digest(encoding: BufferEncoding): string;
}
interface StandIn {
  createHash(algorithm: string): Hash;
  randomBytes(size: number): Buffer;
  getHashes(): string[];
}
const standIn = createRequire(import.meta.url)('../../scripts/sha1-crypto.cjs') as StandIn;

describe('the SHA-1 of the crypto stand-in', () => {
  it('equals node:crypto for every length across the padding boundaries, in one or several updates', () => {
    for (let length = 0; length <= 300; length++) {
      const data = randomBytes(length);
      const split = Math.floor(length / 3);
      const ours = standIn
        .createHash('sha1')
        .update(data.subarray(0, split))
        .update(data.subarray(split))
        .digest();
      expect(Buffer.from(ours).toString('hex')).toBe(createHash('sha1').update(data).digest('hex'));
    }
  });

  it('hashes strings as UTF-8 by default, honours an input encoding and digest encodings', () => {
    const text = 'pässwörd\'"\\;#p';
    expect(standIn.createHash('SHA1').update(text).digest('hex')).toBe(
      createHash('sha1').update(text).digest('hex'),
    );
    expect(standIn.createHash('sha1').update('ff00', 'hex').digest('base64')).toBe(
      createHash('sha1').update('ff00', 'hex').digest('base64'),
    );
  });

  it('mysql_native_password: SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password)))', () => {
    const password = Buffer.from('secret');
    const scramble = randomBytes(20);
    const token = (hash: (data: Buffer[]) => Buffer) => {
      const stage1 = hash([password]);
      const stage2 = hash([stage1]);
      const mix = hash([scramble, stage2]);
      return Buffer.from(stage1.map((b, i) => b ^ mix[i]!));
    };
    const viaStandIn = token((parts) => {
      const h = standIn.createHash('sha1');
      for (const p of parts) h.update(p);
      return h.digest();
    });
    const viaNode = token((parts) => {
      const h = createHash('sha1');
      for (const p of parts) h.update(p);
      return h.digest();
    });
    expect(viaStandIn.toString('hex')).toBe(viaNode.toString('hex'));
  });

  it('hands anything else to the real module', () => {
    expect(standIn.createHash('sha256').update('x').digest('hex')).toBe(
      createHash('sha256').update('x').digest('hex'),
    );
    expect(standIn.randomBytes(8)).toHaveLength(8);
    expect(standIn.getHashes()).toContain('sha1');
    const used = standIn.createHash('sha1');
    used.digest();
    expect(() => used.digest()).toThrow(/already/);
  });
});
