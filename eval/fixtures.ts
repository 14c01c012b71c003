/**
 * Writes small benchmark folders in each benchmark's released layout (hand-written questions), for tests and for
 * trying `steel eval` without the real data:
 *   npx tsx eval/fixtures.ts OUT      ->  OUT/ceval/{dev,val,test}/S_{split}.csv, OUT/cmmlu/{dev,test}/S.csv,
 *                                         OUT/mmlu/data/{dev,val,test}/S_{split}.csv
 */
import { mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { csvField } from './csv.ts';
import { writeTarBuffer, writeZipBuffer } from './archive.ts';

type Q = [question: string, a: string, b: string, c: string, d: string, answer: string];

/** C-Eval val questions per subject (STEM: computer_network, advanced_mathematics (Hard); Social Science: marxism; Humanities: law; Other: physician). */
export const CEVAL_VAL: Record<string, Q[]> = {
  computer_network: [
    ['在OSI参考模型中，负责路由选择的是____。', '物理层', '数据链路层', '网络层', '传输层', 'C'],
    ['HTTP协议默认使用的端口号是____。', '21', '25', '80', '110', 'C'],
    ['IPv4地址的长度是____位。', '16', '32', '64', '128', 'B'],
    ['以下属于无连接传输协议的是____。', 'UDP', 'TCP', 'FTP', 'SMTP', 'A'],
  ],
  advanced_mathematics: [
    ['函数 y=x^2 在 x=1 处的导数是____。', '0', '1', '2', '3', 'C'],
    ['∫_0^1 2x dx 等于____。', '1', '2', '0', '1/2', 'A'],
  ],
  marxism: [
    [
      '马克思主义哲学的基本问题是____。',
      '思维和存在的关系问题',
      '生产力和生产关系问题',
      '人和自然的关系问题',
      '个人和社会的关系问题',
      'A',
    ],
    ['商品的二因素是____。', '价值和使用价值', '价格和价值', '具体劳动和抽象劳动', '私人劳动和社会劳动', 'A'],
  ],
  law: [
    ['我国的根本大法是____。', '刑法', '民法典', '宪法', '行政法', 'C'],
    ['完全民事行为能力人的年龄起点是____周岁。', '8', '16', '18', '20', 'C'],
  ],
  physician: [
    ['正常成人的心率范围是每分钟____次。', '40～60', '60～100', '100～120', '120～140', 'B'],
    ['人体最大的器官是____。', '肝脏', '皮肤', '心脏', '肺', 'B'],
  ],
};

/** dev (few-shot) examples: id,question,A,B,C,D,answer,explanation. */
export const CEVAL_DEV: Record<string, Q[]> = Object.fromEntries(
  Object.keys(CEVAL_VAL).map((s) => [
    s,
    [
      ['1+1等于____。', '1', '2', '3', '4', 'B'],
      ['一年有____个月。', '10', '11', '12', '13', 'C'],
    ],
  ]),
);

export const CMMLU_TEST: Record<string, Q[]> = {
  agronomy: [
    ['水稻属于哪一类植物', '豆科', '禾本科', '十字花科', '蔷薇科', 'B'],
    ['下列作物中属于油料作物的是', '小麦', '玉米', '油菜', '水稻', 'C'],
  ],
  chinese_history: [
    ['秦朝统一六国的时间是', '公元前221年', '公元前206年', '公元前202年', '公元25年', 'A'],
    ['唐朝的都城是', '洛阳', '长安', '开封', '南京', 'B'],
    ['郑和下西洋发生在哪个朝代', '宋朝', '元朝', '明朝', '清朝', 'C'],
  ],
  high_school_physics: [['力的国际单位是', '焦耳', '瓦特', '牛顿', '帕斯卡', 'C']],
};
export const CMMLU_DEV: Record<string, Q[]> = Object.fromEntries(
  Object.keys(CMMLU_TEST).map((s) => [s, [['中国的首都是', '上海', '北京', '广州', '深圳', 'B']]]),
);

export const MMLU_TEST: Record<string, Q[]> = {
  astronomy: [
    ['Which planet is closest to the Sun?', 'Venus', 'Earth', 'Mercury', 'Mars', 'C'],
    ['What is the largest planet in the Solar System?', 'Saturn', 'Jupiter', 'Neptune', 'Uranus', 'B'],
  ],
  philosophy: [['Who wrote "The Republic"?', 'Aristotle', 'Plato', 'Kant', 'Hume', 'B']],
  marketing: [
    ['The "4 Ps" of marketing are product, price, place and', 'people', 'promotion', 'process', 'profit', 'B'],
    [
      'A market segment is',
      'a group of buyers with similar needs',
      'a product line',
      'a price level',
      'a sales channel',
      'A',
    ],
  ],
};
export const MMLU_DEV: Record<string, Q[]> = Object.fromEntries(
  Object.keys(MMLU_TEST).map((s) => [s, [['What is 2 + 2?', '3', '4', '5', '6', 'B']]]),
);

const line = (f: string[]) => f.map(csvField).join(',') + '\n';

function write(path: string, text: string | Buffer): void {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, text);
}

/** writes the three benchmark folders under `out`; returns their paths. */
export function writeFixtures(out: string): { ceval: string; cmmlu: string; mmlu: string } {
  const ceval = join(out, 'ceval'),
    cmmlu = join(out, 'cmmlu'),
    mmlu = join(out, 'mmlu');
  for (const [s, qs] of Object.entries(CEVAL_VAL)) {
    write(
      join(ceval, 'val', `${s}_val.csv`),
      line(['id', 'question', 'A', 'B', 'C', 'D', 'answer']) + qs.map((q, i) => line([String(i), ...q])).join(''),
    );
    write(
      join(ceval, 'dev', `${s}_dev.csv`),
      line(['id', 'question', 'A', 'B', 'C', 'D', 'answer', 'explanation']) +
        CEVAL_DEV[s].map((q, i) => line([String(i), ...q, `1. 答案是${q[5]}`])).join(''),
    );
    // test: answers hidden (no answer column), as released
    write(
      join(ceval, 'test', `${s}_test.csv`),
      line(['id', 'question', 'A', 'B', 'C', 'D']) + qs.map((q, i) => line([String(i), ...q.slice(0, 5)])).join(''),
    );
  }
  for (const [s, qs] of Object.entries(CMMLU_TEST)) {
    write(
      join(cmmlu, 'test', `${s}.csv`),
      line(['', 'Question', 'A', 'B', 'C', 'D', 'Answer']) + qs.map((q, i) => line([String(i), ...q])).join(''),
    );
    write(
      join(cmmlu, 'dev', `${s}.csv`),
      line(['', 'Question', 'A', 'B', 'C', 'D', 'Answer']) +
        CMMLU_DEV[s].map((q, i) => line([String(i), ...q])).join(''),
    );
  }
  for (const [s, qs] of Object.entries(MMLU_TEST)) {
    write(join(mmlu, 'data', 'test', `${s}_test.csv`), qs.map((q) => line(q)).join(''));
    write(join(mmlu, 'data', 'dev', `${s}_dev.csv`), MMLU_DEV[s].map((q) => line(q)).join(''));
    write(
      join(mmlu, 'data', 'val', `${s}_val.csv`),
      qs
        .slice(0, 1)
        .map((q) => line(q))
        .join(''),
    );
  }
  return { ceval, cmmlu, mmlu };
}

function filesUnder(root: string, rel = ''): [string, Buffer][] {
  const out: [string, Buffer][] = [];
  for (const f of readdirSync(join(root, rel)).sort()) {
    const r = rel ? `${rel}/${f}` : f;
    if (statSync(join(root, r)).isDirectory()) out.push(...filesUnder(root, r));
    else out.push([r, readFileSync(join(root, r))]);
  }
  return out;
}

/**
 * the same fixtures as the archives steel collect downloads, one per folder: OUT/ceval/ceval-exam.zip (dev/ val/ test/
 * at the top), OUT/cmmlu/cmmlu_v1_0_1.zip (dev/ test/), OUT/mmlu/data.tar (data/dev ...).
 */
export function writeFixtureArchives(out: string): { ceval: string; cmmlu: string; mmlu: string } {
  const tmp = join(out, '.unpacked');
  const f = writeFixtures(tmp);
  const r = { ceval: join(out, 'ceval'), cmmlu: join(out, 'cmmlu'), mmlu: join(out, 'mmlu') };
  write(join(r.ceval, 'ceval-exam.zip'), writeZipBuffer(filesUnder(f.ceval)));
  write(join(r.cmmlu, 'cmmlu_v1_0_1.zip'), writeZipBuffer(filesUnder(f.cmmlu), false));
  write(join(r.mmlu, 'data.tar'), writeTarBuffer(filesUnder(f.mmlu)));
  rmSync(tmp, { recursive: true, force: true });
  return r;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const out = process.argv[2];
  if (!out) {
    console.error('usage: npx tsx eval/fixtures.ts OUT');
    process.exit(2);
  }
  const r = writeFixtures(out);
  console.log(`wrote ${r.ceval}, ${r.cmmlu}, ${r.mmlu}`);
}
