/**
 * Reading benchmark files straight out of the released archives that `steel collect` downloads (ceval-exam.zip,
 * cmmlu_v1_0_1.zip, data.tar), so they need no unpacking: ZIP (stored or deflated entries, through the central
 * directory; CRC-32 checked) and plain tar (ustar). Whole archives are read into memory (the benchmarks are a few MB).
 */
import { readFileSync } from 'node:fs';
import { crc32, deflateRawSync, inflateRawSync } from 'node:zlib';

/** entry path (forward slashes) -> bytes. */
export type ArchiveEntries = Map<string, Buffer>;

export function readZip(path: string): ArchiveEntries {
  const b = readFileSync(path);
  let eocd = -1;
  for (let i = b.length - 22; i >= Math.max(0, b.length - 22 - 65535); i--)
    if (b.readUInt32LE(i) === 0x06054b50) {
      eocd = i;
      break;
    }
  if (eocd < 0) throw new Error(`${path}: not a ZIP file (no end-of-central-directory record)`);
  const count = b.readUInt16LE(eocd + 10);
  let p = b.readUInt32LE(eocd + 16);
  if (p === 0xffffffff || count === 0xffff)
    throw new Error(`${path}: ZIP64 archives are not supported (unpack it instead)`);
  const out: ArchiveEntries = new Map();
  for (let n = 0; n < count; n++) {
    if (b.readUInt32LE(p) !== 0x02014b50) throw new Error(`${path}: corrupt ZIP central directory at byte ${p}`);
    const method = b.readUInt16LE(p + 10),
      crc = b.readUInt32LE(p + 16),
      csize = b.readUInt32LE(p + 20),
      usize = b.readUInt32LE(p + 24);
    const nlen = b.readUInt16LE(p + 28),
      xlen = b.readUInt16LE(p + 30),
      clen = b.readUInt16LE(p + 32),
      local = b.readUInt32LE(p + 42);
    const name = b.subarray(p + 46, p + 46 + nlen).toString('utf8');
    p += 46 + nlen + xlen + clen;
    if (name.endsWith('/')) continue;
    if (b.readUInt32LE(local) !== 0x04034b50) throw new Error(`${path}: ${name}: corrupt local header`);
    const start = local + 30 + b.readUInt16LE(local + 26) + b.readUInt16LE(local + 28);
    const raw = b.subarray(start, start + csize);
    let data: Buffer;
    if (method === 0) data = raw;
    else if (method === 8) data = inflateRawSync(raw);
    else
      throw new Error(`${path}: ${name}: compression method ${method} is not supported (unpack the archive instead)`);
    if (data.length !== usize || crc32(data) >>> 0 !== crc)
      throw new Error(`${path}: ${name}: size or CRC-32 mismatch (corrupt download?)`);
    out.set(name, data);
  }
  return out;
}

export function readTar(path: string): ArchiveEntries {
  const b = readFileSync(path);
  const out: ArchiveEntries = new Map();
  let p = 0,
    longName: string | null = null;
  while (p + 512 <= b.length) {
    const h = b.subarray(p, p + 512);
    if (h.every((x) => x === 0)) break;
    const str = (o: number, l: number) => {
      const s = h.subarray(o, o + l);
      const z = s.indexOf(0);
      return s.subarray(0, z < 0 ? l : z).toString('utf8');
    };
    const size = parseInt(str(124, 12).trim() || '0', 8);
    if (!Number.isFinite(size)) throw new Error(`${path}: corrupt tar header at byte ${p}`);
    const type = String.fromCharCode(h[156] || 48);
    const prefix = str(345, 155);
    let name = longName ?? (prefix ? `${prefix}/${str(0, 100)}` : str(0, 100));
    longName = null;
    const data = b.subarray(p + 512, p + 512 + size);
    if (type === 'L') longName = data.toString('utf8').replace(/\0+$/, '');
    else if (type === '0' || type === '7') {
      if (name.startsWith('./')) name = name.slice(2);
      out.set(name, Buffer.from(data));
    }
    p += 512 + Math.ceil(size / 512) * 512;
  }
  return out;
}

export function readArchive(path: string): ArchiveEntries {
  if (path.endsWith('.zip')) return readZip(path);
  if (path.endsWith('.tar')) return readTar(path);
  throw new Error(`${path}: unsupported archive (zip or tar)`);
}

// ---- writers (fixtures: the released archives' shapes) -------------------------------------------------------------

export function writeZipBuffer(entries: [string, Buffer][], deflate = true): Buffer {
  const parts: Buffer[] = [],
    central: Buffer[] = [];
  let off = 0;
  for (const [name, data] of entries) {
    const nm = Buffer.from(name, 'utf8');
    const comp = deflate ? deflateRawSync(data) : data;
    const crc = crc32(data) >>> 0;
    const lh = Buffer.alloc(30);
    lh.writeUInt32LE(0x04034b50, 0);
    lh.writeUInt16LE(20, 4);
    lh.writeUInt16LE(0x800, 6);
    lh.writeUInt16LE(deflate ? 8 : 0, 8);
    lh.writeUInt32LE(crc, 14);
    lh.writeUInt32LE(comp.length, 18);
    lh.writeUInt32LE(data.length, 22);
    lh.writeUInt16LE(nm.length, 26);
    const ch = Buffer.alloc(46);
    ch.writeUInt32LE(0x02014b50, 0);
    ch.writeUInt16LE(20, 4);
    ch.writeUInt16LE(20, 6);
    ch.writeUInt16LE(0x800, 8);
    ch.writeUInt16LE(deflate ? 8 : 0, 10);
    ch.writeUInt32LE(crc, 16);
    ch.writeUInt32LE(comp.length, 20);
    ch.writeUInt32LE(data.length, 24);
    ch.writeUInt16LE(nm.length, 28);
    ch.writeUInt32LE(off, 42);
    parts.push(lh, nm, comp);
    central.push(ch, nm);
    off += 30 + nm.length + comp.length;
  }
  const cd = Buffer.concat(central);
  const end = Buffer.alloc(22);
  end.writeUInt32LE(0x06054b50, 0);
  end.writeUInt16LE(entries.length, 8);
  end.writeUInt16LE(entries.length, 10);
  end.writeUInt32LE(cd.length, 12);
  end.writeUInt32LE(off, 16);
  return Buffer.concat([...parts, cd, end]);
}

export function writeTarBuffer(entries: [string, Buffer][]): Buffer {
  const parts: Buffer[] = [];
  for (const [name, data] of entries) {
    const h = Buffer.alloc(512);
    h.write(name, 0, 100, 'utf8');
    h.write('0000644\0', 100);
    h.write('0000000\0', 108);
    h.write('0000000\0', 116);
    h.write(data.length.toString(8).padStart(11, '0') + '\0', 124);
    h.write('00000000000\0', 136);
    h.write('        ', 148);
    h[156] = 48;
    h.write('ustar\0', 257);
    h.write('00', 263);
    let sum = 0;
    for (const x of h) sum += x;
    h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148);
    parts.push(h, data, Buffer.alloc((512 - (data.length % 512)) % 512));
  }
  parts.push(Buffer.alloc(1024));
  return Buffer.concat(parts);
}
