/**
 * The image of the encoder kernel's tables (ByteBpeSpec.image; Qwen's is written into dist/ at build time): an
 * encoder that adopts it gives the ids of one that builds its tables, and a file that is not an image of these inputs
 * and this kernel (its key), whose header does not describe it, or whose tables do not have the digest it records, is
 * ignored (the tables are built).
 */
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { bundledQwen, writeQwenKernelImage } from './encode.ts';
import { sampleFixtureDocs } from './fixtures/sample-docs.ts';

const PREFIX = 48; // magic 16, key 32

test('kernel image: adopted, the same ids as built tables; a stale, cut, damaged or foreign file is ignored', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'steel-kimg-'));
  try {
    const path = join(dir, 'qwen-kernel.bin');
    writeQwenKernelImage(path);
    const good = readFileSync(path);
    const texts = (await sampleFixtureDocs()).slice(0, 40).map((d) => d.text);
    texts.push('Steel-LLM 是一个中文大模型 😀 e\u0301 \ud800 <|im_end|> x');
    const built = bundledQwen('qwen', join(dir, 'none.bin'));
    const want = texts.map((t) => Array.from(built.encodeWithEos(t, 151645)));
    assert.equal(built.tables, 'built');

    const encoder = (bytes: Buffer) => {
      const p = join(dir, `v${Math.random()}.bin`);
      writeFileSync(p, bytes);
      const tok = bundledQwen('qwen', p);
      const got = texts.map((t) => Array.from(tok.encodeWithEos(t, 151645)));
      assert.deepEqual(got, want);
      return tok.tables;
    };
    assert.equal(encoder(good), 'image');
    // qwen3 (other added tokens, the same merges) adopts it too
    const q3 = bundledQwen('qwen3', path);
    assert.equal(q3.encode('中文 text').length > 0 && q3.tables, 'image');

    // made from other inputs or by another kernel: the key differs
    const stale = Buffer.from(good);
    stale[20] ^= 1;
    assert.equal(encoder(stale), 'built');
    const magic = Buffer.from(good);
    magic[0] ^= 1;
    assert.equal(encoder(magic), 'built');
    // cut short, or a header that does not describe the file: the kernel refuses it
    assert.equal(encoder(good.subarray(0, good.length - 16)), 'built');
    const header = Buffer.from(good);
    header.writeUInt32LE(header.readUInt32LE(PREFIX + 12) + 1, PREFIX + 12); // the token count
    assert.equal(encoder(header), 'built');
    const bits = Buffer.from(good);
    bits.writeUInt32LE(bits.readUInt32LE(PREFIX + 16) - 1, PREFIX + 16); // the merge hash's size
    assert.equal(encoder(bits), 'built');
    assert.equal(encoder(Buffer.from('not an image')), 'built');
    // a table damaged (one bit, at the start, middle and end of the tables): the digest differs
    for (const at of [PREFIX + 64, PREFIX + 64 + ((good.length - PREFIX - 64) >> 1), good.length - 1]) {
      const damaged = Buffer.from(good);
      damaged[at] ^= 0x10;
      assert.equal(encoder(damaged), 'built', `bit flipped at ${at}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
