/**
 * Our byte-level BPE encoder (the Qwen2/Qwen3 kind), ids identical to Hugging Face `tokenizers`:
 *   1. added tokens (`<|im_end|>`, ...) are split off the raw text first, leftmost-longest, as HF does for added tokens
 *      that are not `normalized`;
 *   2. each remaining segment is NFC-normalised (when the tokenizer.json says so) and cut into pieces where Qwen's
 *      pre-tokenizer regex cuts it (tokenizer/pretokenize.ts's scanner);
 *   3. each piece's UTF-8 bytes are merged by rank: lowest rank first, leftmost first among equal ranks, as HF's
 *      `Word::merge_all` (scans of the pairs' ranks for up to 64 bytes, a binary heap over the pairs with stale entries
 *      skipped for more).
 * Steps 2 (the scan) and 3 run in a WebAssembly kernel (tokenizer/bpe-kernel.c, built by bpe-kernel.sh; the .wasm is
 * committed), one instance per encoder, made on its first encode: the segment's UTF-16 code units are copied into its
 * memory and its ids read back. Each piece is first cut where no token can span the boundary between two characters
 * (the kernel's span tables, made from the merges): no merge can join across such a cut, so the parts are encoded
 * apart. A run of Chinese is one piece and seldom repeats whole, but its parts (words, mostly) do, as most pieces do
 * (words, punctuation, spaces): the kernel caches parts of up to 48 code units by their units (cleared when full,
 * which bounds memory).
 */
import { createHash } from 'node:crypto';
import { closeSync, fstatSync, openSync, readFileSync, readSync } from 'node:fs';
import { byteLevelAlphabet, QWEN_PRETOKENIZE_REGEX } from './bpe.ts';
import { astralClass, BMP_CLASSES } from './pretokenize.ts';
import { instantiate } from '../pipeline/wasm.ts';

export interface AddedToken {
  id: number;
  content: string;
  special: boolean;
}

export interface ByteBpeSpec {
  /** byteIds[b]: id of the token of byte b */
  byteIds: Uint32Array;
  /** merge r (rank r) joins left[r] and right[r] into result[r] */
  left: Uint32Array;
  right: Uint32Array;
  result: Uint32Array;
  /**
   * ordinary tokens: ids 0 .. n - 1, as byte-level strings; or their count and a function that makes them, called
   * only when they are first needed (decoding, ids of ordinary token strings): encoding never needs them
   */
  tokens: string[] | { count: number; make: () => string[] };
  added: AddedToken[];
  nfc: boolean;
  /**
   * A file of the kernel's tables for these merges (`ByteBpe.kernelImage`; Qwen's is made into dist/ at build time,
   * tokenizer/encode.ts): adopted instead of building the tables when it was made by this kernel from the same
   * inputs (`source`: bytes that identify left, right, result and byteIds), as its key says, and its size and
   * header are those of such an image; any other file is ignored. `left`, `right` and `result` may then be getters
   * that are never called.
   */
  image?: { path: string; source: () => Uint8Array[] };
}

const KERNEL_URL = new URL('./bpe-kernel.wasm', import.meta.url);
/**
 * A kernel image file: this line, the key (sha256 of what it was made from), the kernel's image. The kernel checks
 * the image's header and the digest of its tables (XXH64 in the kernel, filters/xxh64.h, ~1 ms for the 4 MB; sha256
 * of them cost 7-25 ms per process on the 2-core VM), so a damaged file is built again, not trusted.
 */
const IMAGE_MAGIC = 'steel bpe image\n';
const IMAGE_PREFIX = 16 + 32;

/** tokenizer/bpe-kernel.c's exports. */
interface BpeKernel {
  memory: { buffer: ArrayBuffer };
  setup(merges: number, tokens: number): number;
  build(): void;
  reserve(units: number): number;
  ids(): number;
  encode(units: number, nfc: number): number;
  size(which: number): number;
  pieces(units: number): number;
  imageSave(): number;
  imageRoom(bytes: number): number;
  imageLoad(at: number, bytes: number, tokens: number): number;
}

export class ByteBpe {
  readonly nfc: boolean;
  readonly added: AddedToken[];
  private tokenList: string[] | undefined;
  private readonly tokenCount: number;
  private readonly addedRe: RegExp | null;
  private readonly addedFirst: string;
  private readonly addedIds = new Map<string, number>();
  /** the kernel (made on the first encode) and a view of its memory (remade when the memory grows) */
  private k: BpeKernel | undefined;
  private mem = Buffer.alloc(0);
  private out = new Uint32Array(1 << 16);
  private decodeTable: { off: Uint32Array; bytes: Uint8Array } | undefined;
  private tokenIds: Map<string, number> | undefined;
  private lastSize: { chars: number; utf8Bytes: number } | undefined;
  /** Where the kernel's tables came from (once it is made: the first encode): the spec's image file, or built. */
  tables: 'image' | 'built' | undefined;

  constructor(readonly spec: ByteBpeSpec) {
    this.nfc = spec.nfc;
    this.added = spec.added;
    if (Array.isArray(spec.tokens)) this.tokenList = spec.tokens;
    this.tokenCount = Array.isArray(spec.tokens) ? spec.tokens.length : spec.tokens.count;
    for (const t of spec.added) this.addedIds.set(t.content, t.id);
    if (spec.added.length) {
      const alts = spec.added
        .map((t) => t.content)
        .sort((x, y) => y.length - x.length) // longest first: leftmost-longest among tokens starting at one place
        .map((s) => s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'));
      this.addedRe = new RegExp(alts.join('|'), 'g');
      this.addedFirst = [...new Set(spec.added.map((t) => t.content[0]))].join('');
    } else {
      this.addedRe = null;
      this.addedFirst = '';
    }
  }

  /** The ordinary token strings (made on first use when the spec gave a maker). */
  private get tokens(): string[] {
    if (!this.tokenList) {
      const t = (this.spec.tokens as { make: () => string[] }).make();
      if (t.length !== this.tokenCount)
        throw new Error(`tokenizer: ${t.length} token strings, expected ${this.tokenCount}`);
      this.tokenList = t;
    }
    return this.tokenList;
  }

  /** Ordinary tokens (without added tokens). */
  get baseVocabSize(): number {
    return this.tokenCount;
  }

  /** Ordinary + added tokens (ids may leave gaps: this is the largest id + 1). */
  get vocabSize(): number {
    let n = this.tokenCount;
    for (const t of this.added) n = Math.max(n, t.id + 1);
    return n;
  }

  tokenToId(token: string): number | undefined {
    const a = this.addedIds.get(token);
    if (a !== undefined) return a;
    if (!this.tokenIds) {
      this.tokenIds = new Map();
      this.tokens.forEach((t, i) => this.tokenIds!.set(t, i));
    }
    return this.tokenIds.get(token);
  }

  /** The token string (byte-level characters for ordinary tokens, the content for added ones). */
  idToToken(id: number): string | undefined {
    if (id >= 0 && id < this.tokenCount) return this.tokens[id];
    return this.added.find((t) => t.id === id)?.content;
  }

  /** Ids of `text` (no special tokens added around it). */
  encode(text: string): Uint32Array {
    const n = this.encodeInto(text, 0);
    return this.out.slice(0, n);
  }

  /** Ids of `text` followed by `eos` (when not null). */
  encodeWithEos(text: string, eos: number | null): Uint32Array {
    return this.encodeWithEosView(text, eos).slice();
  }

  /**
   * encodeWithEos's ids as a view of this encoder's buffer, valid until its next call: for a caller that copies them
   * at once (the shard writer), without an array per document.
   */
  encodeWithEosView(text: string, eos: number | null): Uint32Array {
    let n = this.encodeInto(text, 0);
    if (eos !== null) {
      this.reserve(n + 1);
      this.out[n++] = eos;
    }
    return this.out.subarray(0, n);
  }

  /** Number of ids of `text`. */
  count(text: string): number {
    return this.encodeInto(text, 0);
  }

  private reserve(n: number): void {
    if (n <= this.out.length) return;
    const o = new Uint32Array(Math.max(n, this.out.length * 2));
    o.set(this.out);
    this.out = o;
  }

  /** Encode into this.out from position `at`; returns the new length. */
  private encodeInto(text: string, at: number): number {
    const re = this.addedRe;
    this.lastSize = undefined;
    if (re === null || !this.mayHaveAdded(text)) return this.encodeSegment(text, at, true);
    let last = 0;
    re.lastIndex = 0;
    let m = re.exec(text);
    if (!m) return this.encodeSegment(text, at, true);
    for (; m; m = re.exec(text)) {
      if (m.index > last) at = this.encodeSegment(text.slice(last, m.index), at, false);
      this.reserve(at + 1);
      this.out[at++] = this.addedIds.get(m[0])!;
      last = m.index + m[0].length;
    }
    if (last < text.length) at = this.encodeSegment(text.slice(last), at, false);
    return at;
  }

  private mayHaveAdded(text: string): boolean {
    const f = this.addedFirst;
    for (let i = 0; i < f.length; i++) if (text.indexOf(f[i]) >= 0) return true;
    return false;
  }

  /**
   * The kernel with this tokenizer's tables: adopted from the spec's image file when it is one for these inputs,
   * else built from the merges, the pre-tokenizer's classes and the NFC bits copied in.
   */
  private kernel(): BpeKernel {
    const k = this.spec.image && this.imageKernel(this.spec.image);
    this.tables = k ? 'image' : 'built';
    return (this.k = k || this.builtKernel());
  }

  private builtKernel(): BpeKernel {
    const k = instantiate<BpeKernel>(KERNEL_URL, { env: { astralClass } });
    const { left, right, result, byteIds } = this.spec;
    const m = left.length;
    // the kernel's merge table packs two ids and a rank into 64 bits
    if (this.tokenCount >= 2 ** 21 - 1 || m >= 2 ** 22)
      throw new Error(
        `tokenizer: ${this.tokenCount} tokens, ${m} merges: the encoder takes < 2,097,151 and < 4,194,304`,
      );
    const at = k.setup(m, this.tokenCount);
    const u32 = new Uint32Array(k.memory.buffer, at, 3 * m + 256);
    u32.set(left, 0);
    u32.set(right, m);
    u32.set(result, 2 * m);
    u32.set(byteIds, 3 * m);
    new Uint8Array(k.memory.buffer, at + 4 * (3 * m + 256), 0x10000).set(BMP_CLASSES);
    new Uint8Array(k.memory.buffer, at + 4 * (3 * m + 256) + 0x10000, 0x2000).set(nfcUnsafeBits());
    k.build();
    return k;
  }

  /** The key of an image of this kernel and spec: sha256 of the kernel's code, the classes, the NFC bits, `source`. */
  private imageKey(source: Uint8Array[]): Buffer {
    const h = createHash('sha256').update(readFileSync(KERNEL_URL)).update(BMP_CLASSES).update(nfcUnsafeBits());
    for (const b of source) h.update(b);
    return h.digest();
  }

  /**
   * The kernel with the tables of `image`'s file, read straight into its memory; undefined when there is no such
   * file or it is not an image of these inputs (its key) or its header does not describe it (the kernel checks).
   */
  private imageKernel(image: NonNullable<ByteBpeSpec['image']>): BpeKernel | undefined {
    let fd: number;
    try {
      fd = openSync(image.path, 'r');
    } catch {
      return undefined;
    }
    try {
      const n = fstatSync(fd).size - IMAGE_PREFIX;
      const head = Buffer.alloc(IMAGE_PREFIX);
      if (
        n <= 0 ||
        n >= 2 ** 31 ||
        readSync(fd, head, 0, IMAGE_PREFIX, 0) !== IMAGE_PREFIX ||
        head.toString('latin1', 0, 16) !== IMAGE_MAGIC ||
        !this.imageKey(image.source()).equals(head.subarray(16))
      )
        return undefined;
      const k = instantiate<BpeKernel>(KERNEL_URL, { env: { astralClass } });
      const at = k.imageRoom(n);
      const body = Buffer.from(k.memory.buffer, at, n);
      for (let got = 0, r = 1; got < n; got += r)
        if ((r = readSync(fd, body, got, n - got, IMAGE_PREFIX + got)) === 0) return undefined;
      return k.imageLoad(at, n, this.tokenCount) ? k : undefined;
    } catch {
      return undefined;
    } finally {
      closeSync(fd);
    }
  }

  /**
   * The image file of this tokenizer's kernel tables (see ByteBpeSpec.image): what `image.path` should hold. The
   * spec must have `image` (its `source` makes the key).
   */
  kernelImage(): Buffer {
    if (!this.spec.image) throw new Error('tokenizer: no image source in the spec');
    const k = this.k ?? this.kernel();
    const at = k.imageSave();
    const body = Buffer.from(new Uint8Array(k.memory.buffer, at, k.size(2)));
    return Buffer.concat([Buffer.from(IMAGE_MAGIC, 'latin1'), this.imageKey(this.spec.image.source()), body]);
  }

  /** Copy seg's UTF-16 code units into the kernel's memory; returns the kernel. */
  private load(seg: string): BpeKernel {
    const k = this.k ?? this.kernel();
    const at = k.reserve(seg.length);
    if (this.mem.buffer !== k.memory.buffer) this.mem = Buffer.from(k.memory.buffer);
    this.mem.write(seg, at, 'utf16le');
    return k;
  }

  /** Encode seg at `at`; `whole`: seg is the text being encoded (its size is then noted when NFC leaves it as is). */
  private encodeSegment(seg: string, at: number, whole: boolean): number {
    let k = this.load(seg);
    let n = k.encode(seg.length, this.nfc ? 1 : 0);
    if (n >= 0 && whole) this.lastSize = { chars: k.size(0), utf8Bytes: k.size(1) };
    if (n < 0) {
      // a code unit that NFC may change (the kernel checks against NFC_UNSAFE)
      seg = nfcLikeHf(seg);
      k = this.load(seg);
      n = k.encode(seg.length, 0);
    }
    this.reserve(at + n);
    this.out.set(new Uint32Array(k.memory.buffer, k.ids(), n), at);
    return at + n;
  }

  /**
   * Code points and UTF-8 bytes (lone surrogates as 3) of the text last encoded, as the kernel counted them while it
   * checked it for NFC; undefined when it did not see the text whole and unchanged (added tokens, NFC applied).
   */
  lastTextSize(): { chars: number; utf8Bytes: number } | undefined {
    return this.lastSize;
  }

  /** Where the kernel's pre-tokenizer ends each piece of `text` (no NFC, no added tokens): for the tests. */
  pieceEnds(text: string): number[] {
    const k = this.load(text);
    const n = k.pieces(text.length);
    return Array.from(new Uint32Array(k.memory.buffer, k.ids(), n));
  }

  /** Text of `ids` (UTF-8 of the joined token bytes, invalid sequences as U+FFFD; added tokens as their content,
   * or left out with `skipSpecial` when they are special). Unknown ids are left out. */
  decode(ids: ArrayLike<number>, skipSpecial = false): string {
    const t = this.decodeTableGet();
    let len = 0;
    const nTok = t.off.length - 1;
    const skip = new Set(skipSpecial ? this.added.filter((a) => a.special).map((a) => a.id) : []);
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < nTok && !skip.has(id)) len += t.off[id + 1] - t.off[id];
    }
    const buf = new Uint8Array(len);
    let k = 0;
    for (let i = 0; i < ids.length; i++) {
      const id = ids[i];
      if (id >= 0 && id < nTok && !skip.has(id)) {
        buf.set(t.bytes.subarray(t.off[id], t.off[id + 1]), k);
        k += t.off[id + 1] - t.off[id];
      }
    }
    return utf8.decode(buf);
  }

  private decodeTableGet(): { off: Uint32Array; bytes: Uint8Array } {
    if (this.decodeTable) return this.decodeTable;
    const charByte = new Map<string, number>();
    const { chars, byteOfId } = byteLevelAlphabet();
    chars.forEach((c, id) => charByte.set(c, byteOfId[id]));
    const n = this.vocabSize;
    const parts: Uint8Array[] = new Array(n).fill(new Uint8Array(0));
    const enc = new TextEncoder();
    this.tokens.forEach((s, id) => {
      const b: number[] = [];
      for (const c of s) {
        const x = charByte.get(c);
        if (x === undefined) {
          parts[id] = enc.encode(s); // not byte-level text: its own UTF-8 (as HF's ByteLevel decoder)
          return;
        }
        b.push(x);
      }
      parts[id] = Uint8Array.from(b);
    });
    for (const a of this.added) parts[a.id] = enc.encode(a.content);
    const off = new Uint32Array(n + 1);
    for (let i = 0; i < n; i++) off[i + 1] = off[i] + parts[i].length;
    const bytes = new Uint8Array(off[n]);
    for (let i = 0; i < n; i++) bytes.set(parts[i], off[i]);
    this.decodeTable = { off, bytes };
    return this.decodeTable;
  }
}

const utf8 = new TextDecoder('utf-8');

/**
 * Code points whose normalisation Node's ICU (Unicode 17 in Node 20.20) knows but the HF engine's tables (about Unicode
 * 9) do not: combining marks added since (with a combining class HF does not know) and characters added since that
 * compose or decompose. HF treats them as unassigned (left as they are, blocking composition), so we do too: the text
 * between them is normalised piece by piece. Found by comparing both engines on every code point
 * (tokenizer/fixtures/nfc-differences.ts).
 */
/* eslint-disable no-misleading-character-class -- a list of single code points, combining marks among them */
const HF_NFC_INERT =
  /[\u{7fd}\u{897}-\u{89f}\u{8ca}-\u{8d3}\u{9fe}\u{c3c}\u{d3b}-\u{d3c}\u{eba}\u{1715}\u{1abf}-\u{1add}\u{1ae0}-\u{1aeb}\u{1df6}-\u{1dfa}\u{a82c}\u{105c9}\u{105d2}\u{105da}\u{105e4}\u{10d24}-\u{10d27}\u{10d69}-\u{10d6d}\u{10eab}-\u{10eac}\u{10efa}-\u{10efb}\u{10efd}-\u{10eff}\u{10f46}-\u{10f50}\u{10f82}-\u{10f85}\u{11070}\u{1133b}\u{11382}-\u{11385}\u{1138b}\u{1138e}\u{11390}-\u{11391}\u{113b8}\u{113bb}\u{113c2}\u{113c5}\u{113c7}-\u{113c9}\u{113ce}-\u{113d0}\u{1145e}\u{11839}-\u{1183a}\u{11930}\u{11935}\u{11938}\u{1193d}-\u{1193e}\u{11943}\u{119e0}\u{11a34}\u{11a47}\u{11a99}\u{11d42}\u{11d44}-\u{11d45}\u{11d97}\u{11f41}-\u{11f42}\u{1611e}-\u{16129}\u{1612f}\u{16d63}\u{16d67}-\u{16d6a}\u{16ff0}-\u{16ff1}\u{1e08f}\u{1e130}-\u{1e136}\u{1e2ae}\u{1e2ec}-\u{1e2ef}\u{1e4ec}-\u{1e4ef}\u{1e5ee}-\u{1e5ef}\u{1e6e3}\u{1e6e6}\u{1e6ee}-\u{1e6ef}\u{1e6f5}]/gu;
/* eslint-enable no-misleading-character-class */

/** NFC as the HF engine computes it (see HF_NFC_INERT). */
export function nfcLikeHf(s: string): string {
  HF_NFC_INERT.lastIndex = 0;
  if (!HF_NFC_INERT.test(s)) return s.normalize('NFC');
  HF_NFC_INERT.lastIndex = 0;
  let out = '',
    last = 0;
  for (let m = HF_NFC_INERT.exec(s); m; m = HF_NFC_INERT.exec(s)) {
    out += s.slice(last, m.index).normalize('NFC') + m[0];
    last = m.index + m[0].length;
  }
  return out + s.slice(last).normalize('NFC');
}

/**
 * The BMP code units a string may hold and still be left unchanged by NFC (Node's ICU and the HF engine alike) are all
 * but these ranges (hex): surrogates, combining marks (\p{M}), characters NFC changes, characters that follow another
 * in a canonical decomposition (they may compose with what precedes them: Hangul vowel and final jamo, ...) and those
 * whose decomposition starts with one. A string of the other units is NFC: each character is its own NFC and none
 * composes with its neighbour. tokenizer/bpe-kernel.test.ts derives the list again from Node's ICU and checks it. Text
 * with a unit in these ranges goes through nfcLikeHf.
 */
export const NFC_UNSAFE =
  '300-36f,374,37e,387,483-489,591-5bd,5bf,5c1-5c2,5c4-5c5,5c7,610-61a,64b-65f,670,6d6-6dc,6df-6e4,' +
  '6e7-6e8,6ea-6ed,711,730-74a,7a6-7b0,7eb-7f3,7fd,816-819,81b-823,825-827,829-82d,859-85b,897-89f,' +
  '8ca-8e1,8e3-903,93a-93c,93e-94f,951-95f,962-963,981-983,9bc,9be-9c4,9c7-9c8,9cb-9cd,9d7,9dc-9dd,9df,' +
  '9e2-9e3,9fe,a01-a03,a33,a36,a3c,a3e-a42,a47-a48,a4b-a4d,a51,a59-a5b,a5e,a70-a71,a75,a81-a83,abc,' +
  'abe-ac5,ac7-ac9,acb-acd,ae2-ae3,afa-aff,b01-b03,b3c,b3e-b44,b47-b48,b4b-b4d,b55-b57,b5c-b5d,b62-b63,' +
  'b82,bbe-bc2,bc6-bc8,bca-bcd,bd7,c00-c04,c3c,c3e-c44,c46-c48,c4a-c4d,c55-c56,c62-c63,c81-c83,cbc,' +
  'cbe-cc4,cc6-cc8,cca-ccd,cd5-cd6,ce2-ce3,cf3,d00-d03,d3b-d3c,d3e-d44,d46-d48,d4a-d4d,d57,d62-d63,' +
  'd81-d83,dca,dcf-dd4,dd6,dd8-ddf,df2-df3,e31,e34-e3a,e47-e4e,eb1,eb4-ebc,ec8-ece,f18-f19,f35,f37,f39,' +
  'f3e-f3f,f43,f4d,f52,f57,f5c,f69,f71-f84,f86-f87,f8d-f97,f99-fbc,fc6,102b-103e,1056-1059,105e-1060,' +
  '1062-1064,1067-106d,1071-1074,1082-108d,108f,109a-109d,1161-1175,11a8-11c2,135d-135f,1712-1715,' +
  '1732-1734,1752-1753,1772-1773,17b4-17d3,17dd,180b-180d,180f,1885-1886,18a9,1920-192b,1930-193b,' +
  '1a17-1a1b,1a55-1a5e,1a60-1a7c,1a7f,1ab0-1add,1ae0-1aeb,1b00-1b04,1b34-1b44,1b6b-1b73,1b80-1b82,' +
  '1ba1-1bad,1be6-1bf3,1c24-1c37,1cd0-1cd2,1cd4-1ce8,1ced,1cf4,1cf7-1cf9,1dc0-1dff,1f71,1f73,1f75,1f77,' +
  '1f79,1f7b,1f7d,1fbb,1fbe,1fc9,1fcb,1fd3,1fdb,1fe3,1feb,1fee-1fef,1ff9,1ffb,1ffd,2000-2001,20d0-20f0,' +
  '2126,212a-212b,2329-232a,2adc,2cef-2cf1,2d7f,2de0-2dff,302a-302f,3099-309a,a66f-a672,a674-a67d,' +
  'a69e-a69f,a6f0-a6f1,a802,a806,a80b,a823-a827,a82c,a880-a881,a8b4-a8c5,a8e0-a8f1,a8ff,a926-a92d,' +
  'a947-a953,a980-a983,a9b3-a9c0,a9e5,aa29-aa36,aa43,aa4c-aa4d,aa7b-aa7d,aab0,aab2-aab4,aab7-aab8,' +
  'aabe-aabf,aac1,aaeb-aaef,aaf5-aaf6,abe3-abea,abec-abed,d800-dfff,f900-fa0d,fa10,fa12,fa15-fa1e,fa20,' +
  'fa22,fa25-fa26,fa2a-fa6d,fa70-fad9,fb1d-fb1f,fb2a-fb36,fb38-fb3c,fb3e,fb40-fb41,fb43-fb44,fb46-fb4e,' +
  'fe00-fe0f,fe20-fe2f';

/** NFC_UNSAFE as a bit per BMP code unit. */
export function nfcUnsafeBits(): Uint8Array {
  const bits = new Uint8Array(0x2000);
  for (const r of NFC_UNSAFE.split(',')) {
    const [a, b = a] = r.split('-').map((x) => parseInt(x, 16));
    for (let c = a; c <= b; c++) bits[c >> 3] |= 1 << (c & 7);
  }
  return bits;
}

/** The ByteBpe of a parsed tokenizer.json, or an error naming what it does not support. */
export function byteBpeFromTokenizerJson(json: Record<string, unknown>, where: string): ByteBpe {
  const fail = (what: string): never => {
    throw new Error(
      `${where}: ${what}; steel's encoder takes byte-level BPE tokenizers with Qwen's pre-tokenizer (Qwen2/Qwen3, steel tokenizer train)`,
    );
  };
  const model = json.model as Record<string, unknown> | undefined;
  if (!model || model.type !== 'BPE') fail('model is not BPE');
  const m = model!;
  if (m.continuing_subword_prefix || m.end_of_word_suffix || m.byte_fallback || m.dropout || m.ignore_merges)
    fail('BPE options (subword prefix/suffix, byte fallback, dropout, ignore_merges) are not supported');
  const norm = json.normalizer as { type?: string } | null | undefined;
  if (norm && norm.type !== 'NFC') fail(`normalizer ${norm.type} is not supported (NFC or none)`);
  const pre = json.pre_tokenizer as { type?: string; pretokenizers?: Record<string, unknown>[] } | null;
  const [split, bl] = pre?.type === 'Sequence' ? (pre.pretokenizers ?? []) : [];
  const pattern = (split?.pattern as { Regex?: string } | undefined)?.Regex;
  if (
    split?.type !== 'Split' ||
    pattern !== QWEN_PRETOKENIZE_REGEX ||
    split.behavior !== 'Isolated' ||
    split.invert ||
    bl?.type !== 'ByteLevel' ||
    bl.add_prefix_space ||
    bl.use_regex ||
    pre!.pretokenizers!.length !== 2
  )
    fail('pre-tokenizer is not Split(Qwen regex, Isolated) + ByteLevel(no prefix space, no regex)');
  const vocab = m.vocab as Record<string, number>;
  const tokens: string[] = [];
  for (const [t, id] of Object.entries(vocab)) tokens[id] = t;
  for (let i = 0; i < tokens.length; i++) if (tokens[i] === undefined) fail(`vocabulary has no id ${i}`);
  const { chars, idOfByte } = byteLevelAlphabet();
  const byteIds = new Uint32Array(256);
  for (let b = 0; b < 256; b++) {
    const id = vocab[chars[idOfByte[b]]];
    if (id === undefined) fail(`vocabulary lacks the byte-level token of byte ${b}`);
    byteIds[b] = id;
  }
  const merges = m.merges as (string | [string, string])[];
  const left = new Uint32Array(merges.length),
    right = new Uint32Array(merges.length),
    result = new Uint32Array(merges.length);
  merges.forEach((mm, r) => {
    const [a, b] = typeof mm === 'string' ? mm.split(' ') : mm;
    const ia = vocab[a],
      ib = vocab[b],
      ir = vocab[a + b];
    if (ia === undefined || ib === undefined || ir === undefined)
      fail(`merge ${r} (${a} ${b}) has a token not in the vocabulary`);
    left[r] = ia;
    right[r] = ib;
    result[r] = ir;
  });
  type RawAdded = AddedToken & { lstrip?: boolean; rstrip?: boolean; single_word?: boolean; normalized?: boolean };
  const rawAdded = (json.added_tokens as RawAdded[] | undefined) ?? [];
  for (const t of rawAdded)
    if (t.lstrip || t.rstrip || t.single_word || t.normalized)
      fail(`added token ${JSON.stringify(t.content)}: lstrip/rstrip/single_word/normalized are not supported`);
  const added = rawAdded.map((t) => ({
    id: t.id,
    content: t.content,
    special: t.special,
  }));
  return new ByteBpe({ byteIds, left, right, result, tokens, added, nfc: norm?.type === 'NFC' });
}
