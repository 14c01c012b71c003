/**
 * Our byte-level BPE encoder (the Qwen2/Qwen3 kind), ids identical to Hugging Face `tokenizers`:
 *   1. added tokens (`<|im_end|>`, ...) are split off the raw text first, leftmost-longest, as HF does for added tokens
 *      that are not `normalized`;
 *   2. each remaining segment is NFC-normalised (when the tokenizer.json says so) and cut into pieces where Qwen's
 *      pre-tokenizer regex cuts it (tokenizer/pretokenize.ts, a scanner that makes no strings);
 *   3. each piece's UTF-8 bytes are merged by rank: lowest rank first, leftmost first among equal ranks (a binary heap
 *      over the pairs with stale entries skipped, as HF's `Word::merge_all`).
 * Most pieces repeat (words, punctuation, spaces), so pieces up to CACHE_PIECE_CHARS characters are cached in a hash
 * table keyed by their UTF-16 units, looked up by the piece's range of the text (no string made per piece); the cache
 * is cleared when it reaches CACHE_MAX entries, which bounds memory. A piece that misses (a run of Chinese is one
 * piece, and seldom repeats whole) is first cut where no token can span the boundary between two characters (see
 * `spanTables`): no merge can join across such a cut, so the parts (words, mostly) are encoded and cached instead.
 */
import { byteLevelAlphabet, QWEN_PRETOKENIZE_REGEX } from './bpe.ts';
import { pieceEnd } from './pretokenize.ts';

const CACHE_PIECE_CHARS = 48; // ≤ 85: a cached piece has at most 3 × 85 = 255 ids (the arena reference keeps 8 bits of length)
const CACHE_MAX = 1 << 18;
const ARENA_MAX = 1 << 23; // arena references (offset * 256 + length) fit in 31 bits
const TWO32 = 4294967296;

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
}

interface SpanTables {
  lOf: Int32Array;
  rOf: Int32Array;
  pairs: Uint32Array;
  words: number;
  lIds: Map<number, number>;
  rIds: Map<number, number>;
}

const spanTablesOf = new WeakMap<Uint32Array, SpanTables>();

/**
 * The (L, R) fragment values of every merge's join point where a character starts after a multi-byte one (see
 * ByteBpe.spanTables), in merge order: L, R, L, R, ... Per token formed so far (len 0: not yet), from its two
 * operands in O(1) (no token's bytes are made): tail, its bytes from its last character start (a non-continuation
 * byte at index ≥ 1, else index 0) to its end; head, its bytes from its start to its next character start (index ≥ 1,
 * else its end); each as 256^length + the bytes (a fragment of at most 3 bytes; length 4 stands for any longer, whose
 * value is not used); lead, whether it has a non-continuation byte; its first and last byte. A function of its own,
 * small, run once per process: the optimising compiler's time for it counts as much as the loop's.
 */
function joinFragments(
  left: Uint32Array,
  right: Uint32Array,
  result: Uint32Array,
  byteIds: Uint32Array,
  nTok: number,
): Int32Array {
  const len = new Int32Array(nTok),
    tailV = new Int32Array(nTok),
    tailL = new Uint8Array(nTok),
    headV = new Int32Array(nTok),
    headL = new Uint8Array(nTok),
    lead = new Uint8Array(nTok),
    first = new Uint8Array(nTok),
    last = new Uint8Array(nTok);
  for (let b = 0; b < 256; b++) {
    const id = byteIds[b];
    len[id] = 1;
    tailV[id] = headV[id] = 256 + b;
    tailL[id] = headL[id] = 1;
    lead[id] = (b & 0xc0) !== 0x80 ? 1 : 0;
    first[id] = last[id] = b;
  }
  let found = new Int32Array(1 << 16),
    nFound = 0;
  // rounds until one forms no new token (a merge whose operand is never formed can never apply, nor be spanned)
  let pending = true,
    formed = true;
  while (pending && formed) {
    pending = false;
    formed = false;
    for (let r = 0; r < left.length; r++) {
      const t = result[r];
      if (len[t] > 0) continue;
      const a = left[r],
        c = right[r];
      if (len[a] === 0 || len[c] === 0) {
        pending = true;
        continue;
      }
      formed = true;
      const la = len[a],
        lc = len[c];
      len[t] = la + lc;
      first[t] = first[a];
      last[t] = last[c];
      lead[t] = lead[a] | lead[c];
      if (lead[c]) {
        tailV[t] = tailV[c];
        tailL[t] = tailL[c];
      } else {
        // x ++ y as values: V(x) * 256^|y| + V(y) - 256^|y|
        const l = tailL[a] + lc;
        tailL[t] = l > 3 ? 4 : l;
        if (l <= 3) tailV[t] = tailV[a] * (1 << (8 * lc)) + tailV[c] - (1 << (8 * lc));
      }
      if (headL[a] < la) {
        headV[t] = headV[a];
        headL[t] = headL[a];
      } else {
        // a is its first character's bytes so far: c's up to its first character start follow
        const k = (first[c] & 0xc0) !== 0x80 ? 0 : headL[c];
        const l = la + k;
        headL[t] = l > 3 ? 4 : l;
        if (l <= 3) headV[t] = k === 0 ? headV[a] : headV[a] * (1 << (8 * k)) + headV[c] - (1 << (8 * k));
      }
      // the boundary where the two operands meet, when a character starts there after a multi-byte one (the other
      // boundaries inside the token are the operands': their (L, R), cut shorter by the operand's end, already mark
      // every boundary this token's would); L: a's tail, R: c's head; never next to a 4-byte character
      if (first[c] < 0xc0 || (last[a] & 0xc0) !== 0x80 || tailL[a] > 3 || headL[c] > 3) continue;
      if (nFound + 2 > found.length) {
        const g = new Int32Array(found.length * 2);
        g.set(found);
        found = g;
      }
      found[nFound++] = tailV[a];
      found[nFound++] = headV[c];
    }
  }
  return found.subarray(0, nFound);
}

/** Fill lOf / rOf of BMP character x (≥ U+0080, not a surrogate): its k-byte suffixes as L, prefixes as R. */
function fragmentsOf(t: SpanTables, x: number): void {
  const nb = x < 0x800 ? 2 : 3;
  const b0 = nb === 2 ? 0xc0 | (x >> 6) : 0xe0 | (x >> 12),
    b1 = nb === 2 ? 0x80 | (x & 63) : 0x80 | ((x >> 6) & 63),
    b2 = 0x80 | (x & 63);
  const last = nb === 2 ? b1 : b2;
  // suffixes: [last], [b0 b1] or [b1 b2], [b0 b1 b2]; prefixes: [b0], [b0 b1], [b0 b1 b2]
  const l1 = 256 + last,
    l2 = nb === 2 ? 65536 + b0 * 256 + b1 : 65536 + b1 * 256 + b2,
    l3 = 16777216 + b0 * 65536 + b1 * 256 + b2;
  const r1 = 256 + b0,
    r2 = 65536 + b0 * 256 + b1;
  t.lOf[3 * x] = t.lIds.get(l1) ?? -1;
  t.lOf[3 * x + 1] = t.lIds.get(l2) ?? -1;
  t.lOf[3 * x + 2] = nb === 3 ? (t.lIds.get(l3) ?? -1) : -1;
  t.rOf[3 * x] = t.rIds.get(r1) ?? -1;
  t.rOf[3 * x + 1] = t.rIds.get(r2) ?? -1;
  t.rOf[3 * x + 2] = nb === 3 ? (t.rIds.get(l3) ?? -1) : -1;
}

export class ByteBpe {
  readonly nfc: boolean;
  readonly added: AddedToken[];
  private readonly byteIds: Uint32Array;
  private readonly result: Uint32Array;
  private tokenList: string[] | undefined;
  private readonly tokenCount: number;
  // open-addressing table: (left, right) → rank
  private readonly hA: Int32Array;
  private readonly hB: Int32Array;
  private readonly hR: Int32Array;
  private readonly hShift: number;
  private readonly hMask: number;
  private readonly addedRe: RegExp | null;
  private readonly addedFirst: string;
  private readonly addedIds = new Map<string, number>();
  // the piece cache, an open-addressing table keyed by the piece's UTF-16 units (cKey[cKeyOff .. + cLen]; cLen 0: empty);
  // cVal: the piece's id (≥ 0), or -(offset * 256 + length) - 1 for `length` ids at `offset` in `arena`
  private readonly cMask = CACHE_MAX * 2 - 1;
  private readonly cLen = new Uint8Array(CACHE_MAX * 2);
  private readonly cHash = new Int32Array(CACHE_MAX * 2);
  private readonly cKeyOff = new Int32Array(CACHE_MAX * 2);
  private readonly cVal = new Int32Array(CACHE_MAX * 2);
  private readonly cKey = new Uint16Array(CACHE_MAX * 8);
  private cKeyLen = 0;
  private cacheCount = 0;
  private arena = new Uint32Array(1 << 16);
  private arenaLen = 0;
  private heapN = 0;
  // scratch
  private ids = new Int32Array(256);
  /** the UTF-8 bytes of the piece in bpeInto (ids before merging are their byte tokens) */
  private bytes = new Uint8Array(256);
  /** rank of the merge of two byte tokens, by the two bytes (b1 << 8 | b2); -1: none */
  private byteRank: Int32Array | undefined;
  private nxt = new Int32Array(256);
  private prv = new Int32Array(256);
  private heap = new Float64Array(256);
  private out = new Uint32Array(1 << 16);
  private decodeTable: { off: Uint32Array; bytes: Uint8Array } | undefined;
  private tokenIds: Map<string, number> | undefined;
  private spanT: SpanTables | undefined;
  /** whether the last splitInto cut its piece */
  private wasCut = false;

  constructor(readonly spec: ByteBpeSpec) {
    this.nfc = spec.nfc;
    this.added = spec.added;
    this.byteIds = spec.byteIds;
    this.result = spec.result;
    if (Array.isArray(spec.tokens)) this.tokenList = spec.tokens;
    this.tokenCount = Array.isArray(spec.tokens) ? spec.tokens.length : spec.tokens.count;
    const n = spec.left.length;
    let bits = 4;
    while (1 << bits < n * 3) bits++;
    this.hShift = 32 - bits;
    this.hMask = (1 << bits) - 1;
    this.hA = new Int32Array(1 << bits).fill(-1);
    this.hB = new Int32Array(1 << bits);
    this.hR = new Int32Array(1 << bits);
    for (let r = 0; r < n; r++) {
      const a = spec.left[r],
        b = spec.right[r];
      let h = this.hash(a, b);
      while (this.hA[h] !== -1 && !(this.hA[h] === a && this.hB[h] === b)) h = (h + 1) & this.hMask;
      if (this.hA[h] !== -1) continue; // a repeated merge keeps its first (lowest) rank
      this.hA[h] = a;
      this.hB[h] = b;
      this.hR[h] = r;
    }
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

  private hash(a: number, b: number): number {
    return Math.imul(a ^ Math.imul(b, 0x85ebca77), 0x9e3779b1) >>> this.hShift;
  }

  private rank(a: number, b: number): number {
    const hA = this.hA;
    let h = this.hash(a, b);
    for (;;) {
      const x = hA[h];
      if (x === -1) return -1;
      if (x === a && this.hB[h] === b) return this.hR[h];
      h = (h + 1) & this.hMask;
    }
  }

  /** Ids of `text` (no special tokens added around it). */
  encode(text: string): Uint32Array {
    const n = this.encodeInto(text, 0);
    return this.out.slice(0, n);
  }

  /** Ids of `text` followed by `eos` (when not null). */
  encodeWithEos(text: string, eos: number | null): Uint32Array {
    let n = this.encodeInto(text, 0);
    if (eos !== null) {
      this.reserve(n + 1);
      this.out[n++] = eos;
    }
    return this.out.slice(0, n);
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
    if (re === null || !this.mayHaveAdded(text)) return this.encodeSegment(text, at);
    let last = 0;
    re.lastIndex = 0;
    for (let m = re.exec(text); m; m = re.exec(text)) {
      if (m.index > last) at = this.encodeSegment(text.slice(last, m.index), at);
      this.reserve(at + 1);
      this.out[at++] = this.addedIds.get(m[0])!;
      last = m.index + m[0].length;
    }
    if (last < text.length) at = this.encodeSegment(text.slice(last), at);
    return at;
  }

  private mayHaveAdded(text: string): boolean {
    const f = this.addedFirst;
    for (let i = 0; i < f.length; i++) if (text.indexOf(f[i]) >= 0) return true;
    return false;
  }

  private encodeSegment(seg: string, at: number): number {
    if (this.nfc && !isNfcFast(seg)) seg = nfcLikeHf(seg);
    const n = seg.length;
    // a piece of c UTF-16 units gives at most 3c tokens (a unit encodes to at most 3 bytes)
    this.reserve(at + n * 3);
    for (let i = 0; i < n;) {
      const e = pieceEnd(seg, i, n);
      at = e - i <= CACHE_PIECE_CHARS ? this.cachedPiece(seg, i, e, at, true) : at + this.splitInto(seg, i, e, at);
      i = e;
    }
    return at;
  }

  /**
   * Which boundaries between two BMP characters of 2 or 3 UTF-8 bytes a token can span, built on first use. Cut a
   * token at an inner character start after a multi-byte character: L = its bytes from the character start before
   * (or its start) to the cut, R = its bytes from the cut to the next character start (or its end). A token spans the
   * boundary x|y of the text only if some (L, R) of a token is (a suffix of x's bytes, a prefix of y's bytes). Each
   * fragment of at most 3 bytes that occurs gets an index; `lOf[3x + k - 1]` is the index of x's k-byte suffix as an
   * L (-1: none), `rOf[3y + k - 1]` of y's k-byte prefix as an R, and `pairs` a bit matrix of the (L, R) that occur.
   */
  private spanTables(): SpanTables {
    if (this.spanT) return this.spanT;
    // a function of the merges alone: encoders of one spec share them
    const shared = spanTablesOf.get(this.spec.left);
    if (shared) return (this.spanT = shared);
    const { left, right, result } = this.spec;
    const joins = joinFragments(left, right, result, this.byteIds, this.tokenCount);
    const lIds = new Map<number, number>(),
      rIds = new Map<number, number>();
    const found = new Int32Array(joins.length);
    for (let i = 0; i < joins.length; i += 2) {
      let l = lIds.get(joins[i]);
      if (l === undefined) lIds.set(joins[i], (l = lIds.size));
      let r = rIds.get(joins[i + 1]);
      if (r === undefined) rIds.set(joins[i + 1], (r = rIds.size));
      found[i] = l;
      found[i + 1] = r;
    }
    const words = (rIds.size + 31) >> 5;
    const pairs = new Uint32Array(Math.max(1, lIds.size * words));
    for (let i = 0; i < found.length; i += 2) pairs[found[i] * words + (found[i + 1] >> 5)] |= 1 << (found[i + 1] & 31);
    // filled per character on first use (-2: not yet)
    const lOf = new Int32Array(3 << 16).fill(-2),
      rOf = new Int32Array(3 << 16).fill(-2);
    this.spanT = { lOf, rOf, pairs, words, lIds, rIds };
    spanTablesOf.set(this.spec.left, this.spanT);
    return this.spanT;
  }

  /** Whether a token can span the boundary between BMP characters x and y (each ≥ U+0080, not surrogates). */
  private spanned(x: number, y: number): boolean {
    const t = this.spanT ?? this.spanTables();
    const { lOf, rOf, pairs, words } = t;
    if (lOf[3 * x] === -2) fragmentsOf(t, x);
    if (lOf[3 * y] === -2) fragmentsOf(t, y);
    const r0 = rOf[3 * y],
      r1 = rOf[3 * y + 1],
      r2 = rOf[3 * y + 2];
    for (let k = 0; k < 3; k++) {
      const l = lOf[3 * x + k];
      if (l < 0) continue;
      const row = l * words;
      if (r0 >= 0 && pairs[row + (r0 >> 5)] & (1 << (r0 & 31))) return true;
      if (r1 >= 0 && pairs[row + (r1 >> 5)] & (1 << (r1 & 31))) return true;
      if (r2 >= 0 && pairs[row + (r2 >> 5)] & (1 << (r2 & 31))) return true;
    }
    return false;
  }

  /**
   * Piece seg[s..e) cut where no token can span the boundary (between two BMP characters of 2 or 3 UTF-8 bytes each,
   * checked by `spanned`): no merge can join across such a cut, so BPE of the parts gives the ids of the whole, and
   * the parts (words, mostly) repeat and are cached. Written at `at`; returns the number of ids.
   */
  private splitInto(seg: string, s: number, e: number, at: number): number {
    const start = at;
    let from = s;
    let prev = seg.charCodeAt(s);
    for (let i = s + 1; i < e; i++) {
      const c = seg.charCodeAt(i);
      if (c >= 0x80 && prev >= 0x80 && (c < 0xd800 || c >= 0xe000) && (prev < 0xd800 || prev >= 0xe000)) {
        if (!this.spanned(prev, c)) {
          at =
            i - from <= CACHE_PIECE_CHARS
              ? this.cachedPiece(seg, from, i, at, false)
              : at + this.bpeInto(seg, from, i, at);
          from = i;
        }
      }
      prev = c;
    }
    this.wasCut = from !== s;
    if (from === s) return this.bpeInto(seg, s, e, at);
    at =
      e - from <= CACHE_PIECE_CHARS ? this.cachedPiece(seg, from, e, at, false) : at + this.bpeInto(seg, from, e, at);
    return at - start;
  }

  /**
   * The ids of piece seg[s..e) written at `at` from the cache, or encoded (cut where no token spans, when `split`)
   * and cached; returns the new `at`.
   */
  private cachedPiece(seg: string, s: number, e: number, at: number, split: boolean): number {
    const len = e - s;
    let h = 0x811c9dc5 ^ len;
    for (let i = s; i < e; i++) h = Math.imul(h ^ seg.charCodeAt(i), 0x01000193);
    h ^= h >>> 15;
    const mask = this.cMask,
      cHash = this.cHash,
      cLen = this.cLen,
      cKey = this.cKey;
    let slot = h & mask;
    for (;;) {
      const l = cLen[slot];
      if (l === 0) break;
      if (l === len && cHash[slot] === h) {
        const off = this.cKeyOff[slot];
        let i = 0;
        while (i < len && cKey[off + i] === seg.charCodeAt(s + i)) i++;
        if (i === len) {
          const v = this.cVal[slot];
          const out = this.out;
          if (v >= 0) out[at++] = v;
          else {
            // -(offset * 256 + length) - 1: `length` ids at `offset` in the arena
            const x = -v - 1;
            const k = x % 256;
            const arena = this.arena;
            for (let j = (x - k) / 256, end = j + k; j < end; j++) out[at++] = arena[j];
          }
          return at;
        }
      }
      slot = (slot + 1) & mask;
    }
    const k = split ? this.splitInto(seg, s, e, at) : this.bpeInto(seg, s, e, at);
    // a piece that was cut is not cached whole: its parts are, and a whole cut piece (a Chinese run) seldom repeats
    if (split && this.wasCut) return at + k;
    // the parts cached by splitInto may have taken the slot, or cleared the cache
    if (this.cacheCount >= CACHE_MAX || this.cKeyLen + len > this.cKey.length || this.arenaLen + k > ARENA_MAX)
      this.clearCache();
    slot = h & mask;
    while (this.cLen[slot] !== 0) slot = (slot + 1) & mask;
    this.remember(slot, h, seg, s, e, at, k);
    return at + k;
  }

  private clearCache(): void {
    this.cLen.fill(0);
    this.cacheCount = 0;
    this.cKeyLen = 0;
    this.arenaLen = 0;
  }

  /** Cache piece seg[s..e) in `slot` with the k ids at out[at..]: one id as itself, more as a reference into the arena. */
  private remember(slot: number, h: number, seg: string, s: number, e: number, at: number, k: number): void {
    const cKey = this.cKey,
      off = this.cKeyLen;
    for (let i = s; i < e; i++) cKey[off + i - s] = seg.charCodeAt(i);
    this.cKeyLen += e - s;
    this.cKeyOff[slot] = off;
    this.cLen[slot] = e - s;
    this.cHash[slot] = h;
    this.cacheCount++;
    if (k === 1) {
      this.cVal[slot] = this.out[at];
      return;
    }
    if (this.arenaLen + k > this.arena.length) {
      const a = new Uint32Array(this.arena.length * 2);
      a.set(this.arena);
      this.arena = a;
    }
    const arena = this.arena,
      out = this.out,
      aoff = this.arenaLen;
    for (let j = 0; j < k; j++) arena[aoff + j] = out[at + j];
    this.arenaLen += k;
    this.cVal[slot] = -(aoff * 256 + k) - 1;
  }

  private grow(n: number): void {
    let m = this.ids.length;
    while (m < n) m *= 2;
    this.ids = new Int32Array(m);
    this.bytes = new Uint8Array(m);
    this.nxt = new Int32Array(m);
    this.prv = new Int32Array(m);
    this.heap = new Float64Array(m * 2);
  }

  private heapPush(key: number): void {
    const heap = this.heap;
    let i = this.heapN++;
    while (i > 0) {
      const p = (i - 1) >> 1;
      if (heap[p] <= key) break;
      heap[i] = heap[p];
      i = p;
    }
    heap[i] = key;
  }

  private heapPop(): number {
    const heap = this.heap;
    const top = heap[0];
    const n = --this.heapN;
    const last = heap[n];
    let i = 0;
    for (;;) {
      let c = 2 * i + 1;
      if (c >= n) break;
      if (c + 1 < n && heap[c + 1] < heap[c]) c++;
      if (heap[c] >= last) break;
      heap[i] = heap[c];
      i = c;
    }
    heap[i] = last;
    return top;
  }

  /** BPE of piece seg[s..e), written to this.out from `at` (room reserved by the caller); returns the number of ids. */
  private bpeInto(seg: string, s: number, e: number, at: number): number {
    if ((e - s) * 3 > this.ids.length) this.grow((e - s) * 3);
    const bytes = this.bytes;
    // UTF-8 bytes (a lone surrogate becomes U+FFFD, as TextEncoder does)
    let n = 0;
    for (let i = s; i < e; i++) {
      let c = seg.charCodeAt(i);
      if (c < 0x80) bytes[n++] = c;
      else if (c < 0x800) {
        bytes[n++] = 0xc0 | (c >> 6);
        bytes[n++] = 0x80 | (c & 63);
      } else {
        if (c >= 0xd800 && c < 0xe000) {
          const d = i + 1 < e ? seg.charCodeAt(i + 1) : 0;
          if (c < 0xdc00 && d >= 0xdc00 && d < 0xe000) {
            c = 0x10000 + ((c - 0xd800) << 10) + (d - 0xdc00);
            i++;
            bytes[n++] = 0xf0 | (c >> 18);
            bytes[n++] = 0x80 | ((c >> 12) & 63);
            bytes[n++] = 0x80 | ((c >> 6) & 63);
            bytes[n++] = 0x80 | (c & 63);
            continue;
          }
          c = 0xfffd;
        }
        bytes[n++] = 0xe0 | (c >> 12);
        bytes[n++] = 0x80 | ((c >> 6) & 63);
        bytes[n++] = 0x80 | (c & 63);
      }
    }
    const ids = this.ids,
      byteIds = this.byteIds;
    for (let i = 0; i < n; i++) ids[i] = byteIds[bytes[i]];
    const out = this.out;
    if (n === 1) {
      out[at] = ids[0];
      return 1;
    }
    const nxt = this.nxt,
      prv = this.prv,
      result = this.result;
    let byteRank = this.byteRank;
    if (byteRank === undefined) {
      byteRank = this.byteRank = new Int32Array(1 << 16);
      for (let x = 0; x < 1 << 16; x++) byteRank[x] = this.rank(byteIds[x >> 8], byteIds[x & 255]);
    }
    this.heapN = 0;
    for (let i = 0; i < n; i++) {
      nxt[i] = i + 1 < n ? i + 1 : -1;
      prv[i] = i - 1;
      if (i + 1 < n) {
        const r = byteRank[(bytes[i] << 8) | bytes[i + 1]];
        if (r >= 0) this.heapPush(r * TWO32 + i);
      }
    }
    while (this.heapN > 0) {
      const top = this.heapPop();
      const r = Math.floor(top / TWO32);
      const p = top - r * TWO32;
      if (ids[p] < 0) continue;
      const q = nxt[p];
      if (q < 0 || this.rank(ids[p], ids[q]) !== r) continue;
      ids[p] = result[r];
      ids[q] = -1;
      const nq = nxt[q];
      nxt[p] = nq;
      if (nq >= 0) {
        prv[nq] = p;
        const r3 = this.rank(ids[p], ids[nq]);
        if (r3 >= 0) this.heapPush(r3 * TWO32 + p);
      }
      const pp = prv[p];
      if (pp >= 0) {
        const r2 = this.rank(ids[pp], ids[p]);
        if (r2 >= 0) this.heapPush(r2 * TWO32 + pp);
      }
    }
    let k = at;
    for (let i = 0; i >= 0; i = nxt[i]) out[k++] = ids[i];
    return k - at;
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

/** True when `s` is certainly NFC: every code unit below U+0300 (no combining marks, no Hangul, no CJK
 * compatibility ideographs). Other text goes through nfcLikeHf. */
function isNfcFast(s: string): boolean {
  for (let i = 0; i < s.length; i++) if (s.charCodeAt(i) >= 0x300) return false;
  return true;
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
