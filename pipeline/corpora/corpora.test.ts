import { test } from 'node:test';
import assert from 'node:assert/strict';
import { writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Document } from '../document.ts';
import type { AdaptResult, Corpus } from './types.ts';
import { getCorpus, listCorpora, loadManifestFile, localFiles } from './index.ts';
import { normalizeNfc, parseUpvotes, toChatML } from './adapters.ts';
import { tmpDir } from '../test-fixtures/tmp-dir.ts';

const SYS = '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n';
const loc = (file = '/data/x/part-0001.jsonl', line = 7) => ({ file, line });

async function corpus(name: string): Promise<Corpus> {
  const c = await getCorpus(name);
  assert.ok(c, `corpus ${name} exists`);
  return c;
}
function asDoc(r: AdaptResult): Document {
  assert.ok(!('drop' in r), `expected a document, got drop ${JSON.stringify(r)}`);
  return r as Document;
}
function asDrop(r: AdaptResult): { drop: string; value?: number | string } {
  assert.ok('drop' in r, `expected a drop, got document ${JSON.stringify(r)}`);
  return r as { drop: string; value?: number | string };
}

test('every Steel-LLM corpus has a valid manifest with a download source', async () => {
  const names = (await listCorpora()).map((c) => c.name);
  for (const n of [
    'skypile-150b',
    'wanjuan-1.0-zh',
    'wanjuan-1.0-en',
    'wikipedia-cn',
    'baidu-baike',
    'baidu-qa',
    'zhihu-kol',
    'belle-2m',
    'belle-3.5m',
    'moss-003-sft',
    'firefly-1.1m',
    'starcoderdata',
    'sample',
  ]) {
    assert.ok(names.includes(n), `missing manifest ${n}`);
  }
  for (const c of await listCorpora()) {
    const m = c.manifest;
    assert.ok(m.hf || m.urls || m.local || m.manual, `${c.name} has no source`);
    assert.equal(typeof m.license, 'string');
    assert.ok(Array.isArray(m.language) && (m.language as string[]).length > 0);
  }
  const sky = await corpus('skypile-150b');
  assert.deepEqual(sky.manifest.hf, {
    repo: 'Skywork/SkyPile-150B',
    revision: 'main',
    type: 'dataset',
    include: ['data/*.jsonl'],
  });
  assert.equal(sky.reader.format, 'jsonl');
  assert.equal(sky.reader.textField, 'text');
});

test('invalid manifests are refused with the file and the offending key', () => {
  const dir = tmpDir('steel-manifest-');
  const bad = join(dir, 'bad.yaml');
  writeFileSync(
    bad,
    'name: bad\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: csv\nhf: {repo: a/b, include: ["*"]}\nfields: {}\nunify: {kind: text}\n',
  );
  assert.throws(
    () => loadManifestFile(bad),
    (e: Error) => e.message.includes(bad) && e.message.includes('format'),
  );
  const unknownKind = join(dir, 'k.yaml');
  writeFileSync(
    unknownKind,
    'name: k\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nhf: {repo: a/b, include: ["*"]}\nfields: {}\nunify: {kind: nope}\n',
  );
  assert.throws(() => loadManifestFile(unknownKind), /unknown unify.kind "nope"/);
  const badParam = join(dir, 'p.yaml');
  writeFileSync(
    badParam,
    'name: p\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nhf: {repo: a/b, include: ["*"]}\nfields: {}\nunify: {kind: zhihu, min_upvotes: "many"}\n',
  );
  assert.throws(() => loadManifestFile(badParam), /unify\.min_upvotes/);
  const nosrc = join(dir, 'n.yaml');
  writeFileSync(
    nosrc,
    'name: n\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nfields: {}\nunify: {kind: text}\n',
  );
  assert.throws(() => loadManifestFile(nosrc), /one of hf, urls, local or manual/);
  const mismatch = join(dir, 'other.yaml');
  writeFileSync(
    mismatch,
    'name: n\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nmanual: x\nfields: {}\nunify: {kind: text}\n',
  );
  assert.throws(() => loadManifestFile(mismatch), /must match the file name/);
  // strict: an unknown key (a typo) is an error naming the file and the key, also inside hf
  const typo = join(dir, 't.yaml');
  writeFileSync(
    typo,
    'name: t\ntitle: x\npublisher: y\nlanguage: [zh]\nlicence: MIT\nformat: jsonl\nmanual: x\nfields: {}\nunify: {kind: text}\n',
  );
  assert.throws(
    () => loadManifestFile(typo),
    (e: Error) => e.message.includes(typo) && /licence/.test(e.message),
  );
  const hfTypo = join(dir, 'h.yaml');
  writeFileSync(
    hfTypo,
    'name: h\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nhf: {repo: a/b, include: ["*"], revison: v1}\nfields: {}\nunify: {kind: text}\n',
  );
  assert.throws(() => loadManifestFile(hfTypo), /hf.*revison/);
});

test('a corpus by name reads only its own manifest (NAME.yaml): a bad manifest beside it does not matter', async () => {
  const dir = tmpDir('steel-manifest-one-');
  const manifest = (n: string) =>
    `name: ${n}\ntitle: x\npublisher: y\nlanguage: [zh]\nlicense: MIT\nformat: jsonl\nmanual: x\nfields: {}\nunify: {kind: text}\n`;
  writeFileSync(join(dir, 'good.yaml'), manifest('good'));
  writeFileSync(join(dir, 'bad.yaml'), manifest('bad').replace('license', 'licence'));
  assert.equal((await getCorpus('good', dir))?.name, 'good');
  assert.equal(await getCorpus('good', dir), await getCorpus('good', dir), 'loaded once');
  await assert.rejects(getCorpus('bad', dir), /licence/);
  await assert.rejects(listCorpora(dir), /licence/);
});

test('NFKC and \\r removal apply to every record (SkyPile text)', async () => {
  const c = await corpus('skypile-150b');
  const d = asDoc(c.adapt({ text: 'ＡＢＣ１２３，全角\r\n第二行ｶﾀｶﾅ' }, loc('/d/data/2021-31_zh_head_0000.jsonl', 3)));
  assert.equal(d.text, 'ABC123,全角\n第二行カタカナ');
  assert.equal(d.source, 'skypile-150b');
  assert.equal(d.lang, 'zh');
  assert.equal(d.id, 'skypile-150b/data/2021-31_zh_head_0000.jsonl:3');
  assert.equal(d.meta.line, 3);
  assert.throws(() => c.adapt({ text: 42 }, loc()), /skypile-150b: field "text" must be a string, got number/);
  assert.throws(() => c.adapt({ content: 'x' }, loc()), /missing field "text"/);
  assert.equal(asDrop(c.adapt({ text: '\r' }, loc())).drop, 'empty');
});

test('ChatML layout', () => {
  assert.equal(
    toChatML([{ user: 'Q', assistant: 'A' }]),
    `${SYS}<|im_start|>user\nQ<|im_end|>\n<|im_start|>assistant\nA<|im_end|>`,
  );
  assert.equal(
    toChatML(
      [
        { user: 'Q1', assistant: 'A1' },
        { user: 'Q2', assistant: 'A2' },
      ],
      'S',
      false,
    ),
    '<|im_start|>system\nS<|im_end|>\n<|im_start|>user\nQ1<|im_end|>\n<|im_start|>assistant\nA1<|im_end|>\n' +
      '<|im_start|>user\nQ2<|im_end|>\n<|im_start|>assistant\nA2',
  );
});

test('WanJuan: content rows and flattened exam rows', async () => {
  const c = await corpus('wanjuan-1.0-zh');
  const d = asDoc(c.adapt({ id: 'BkPn-HHxK7EhrSATFv6d', content: '# 标题\r\n正文（全角括号）' }, loc()));
  assert.equal(d.id, 'wanjuan-1.0-zh/BkPn-HHxK7EhrSATFv6d');
  assert.equal(d.text, '# 标题\n正文(全角括号)');
  const exam = asDoc(
    c.adapt(
      {
        id: 'exam-1',
        q_main: '下列属于哺乳动物的是（ ）',
        option_a: '鲨鱼',
        option_b: '鲸',
        option_c: '企鹅',
        option_d: '青蛙',
        option_e: '',
        std_ans: 'B',
        answer_detail: '鲸用肺呼吸，胎生哺乳。',
        q_type: '单选题',
      },
      loc(),
    ),
  );
  assert.equal(
    exam.text,
    '下列属于哺乳动物的是( )\nA. 鲨鱼\nB. 鲸\nC. 企鹅\nD. 青蛙\n标准答案：B\n解析：鲸用肺呼吸,胎生哺乳。',
  );
  assert.equal(exam.meta.wanjuan_row, 'exam');
  const noDetail = asDoc(c.adapt({ q_main: '1+1=?', option_a: '1', option_b: '2', std_ans: 'B' }, loc()));
  assert.equal(noDetail.text, '1+1=?\nA. 1\nB. 2\n标准答案：B');
  assert.throws(() => c.adapt({ q_main: 5, std_ans: 'A' }, loc()), /field "q_main" must be a string/);
  assert.throws(
    () => c.adapt({ q_main: 'Q', option_a: ['x'], std_ans: 'A' }, loc()),
    /field "option_a" must be a string, got array/,
  );
  assert.throws(() => c.adapt({ id: 'x' }, loc()), /missing field "content"/);
  const en = await corpus('wanjuan-1.0-en');
  assert.equal(asDoc(en.adapt({ id: 'e1', content: 'Hello\r\nworld' }, loc())).lang, 'en');
});

test('Wikipedia-cn: completion text, entries under 20 characters dropped', async () => {
  const c = await corpus('wikipedia-cn');
  const long = '昭通机场（ZPZT）是位于中国云南昭通的民用机场，始建于1935年。';
  const d = asDoc(c.adapt({ completion: long, source: 'wikipedia.zh2307' }, loc('/w/default/train/0000.parquet', 12)));
  assert.equal(d.text, '昭通机场(ZPZT)是位于中国云南昭通的民用机场,始建于1935年。');
  assert.deepEqual(asDrop(c.adapt({ completion: '短条目，不足二十个字。', source: 'wikipedia.zh2307' }, loc())), {
    drop: 'wikipedia_min_chars',
    value: 11,
  });
  assert.throws(() => c.adapt({ source: 'wikipedia.zh2307' }, loc()), /missing field "completion"/);
});

test('Baidu Baike: title "：" summary + sections joined', async () => {
  const c = await corpus('baidu-baike');
  const rec = {
    title: '红色食品',
    summary: '红色食品是指食品为红色、橙红色或棕红色的食品。',
    sections: [
      { title: '简介', content: '红色食品富含番茄红素。\r\n还富含铁。' },
      { title: '作用', content: '可提高预防感冒的能力。' },
      { title: '空', content: '' },
    ],
    tags: ['饮食'],
    url: 'http://baike.baidu.com/view/0010.htm',
  };
  const d = asDoc(c.adapt(rec, loc()));
  assert.equal(
    d.text,
    '红色食品：红色食品是指食品为红色、橙红色或棕红色的食品。\n简介：红色食品富含番茄红素。\n还富含铁。\n作用：可提高预防感冒的能力。',
  );
  assert.equal(d.meta.title, '红色食品');
  assert.deepEqual(asDrop(c.adapt({ title: '无摘要', summary: '', sections: [] }, loc())), {
    drop: 'baike_empty',
    value: 'summary',
  });
  assert.equal(asDrop(c.adapt({ title: '短', summary: '很短。', sections: [] }, loc())).drop, 'min_chars');
  assert.throws(() => c.adapt({ title: 'x', summary: 'y', sections: 'oops' }, loc()), /"sections" must be an array/);
  assert.throws(() => c.adapt({ title: 'x', summary: 'y', sections: [42] }, loc()), /sections\[0\] must be an object/);
  assert.throws(() => c.adapt({ summary: 'y', sections: [] }, loc()), /missing field "title"/);
});

test('Baidu QA: question (title + desc) and answer as ChatML', async () => {
  const c = await corpus('baidu-qa');
  const d = asDoc(
    c.adapt(
      {
        qid: 'qid_5982723620932473219',
        category: '教育/科学-理工学科-地球科学',
        title: '人站在地球上为什么没有头朝下的感觉 ',
        desc: '',
        answer: '地球上重力作用一直是指向球心的，因此\r\n只要头远离球心，人们就回感到头朝上。',
      },
      loc(),
    ),
  );
  assert.equal(
    d.text,
    `${SYS}<|im_start|>user\n人站在地球上为什么没有头朝下的感觉<|im_end|>\n<|im_start|>assistant\n地球上重力作用一直是指向球心的,因此\n只要头远离球心,人们就回感到头朝上。<|im_end|>`,
  );
  assert.equal(d.id, 'baidu-qa/qid_5982723620932473219');
  assert.equal(d.meta.category, '教育/科学-理工学科-地球科学');
  const withDesc = asDoc(
    c.adapt({ qid: 'q2', title: '我的小baby', desc: '第一次养狗，该注意什么呢？', answer: '勤洗澡' }, loc()),
  );
  assert.ok(withDesc.text.includes('user\n我的小baby\n第一次养狗,该注意什么呢?<|im_end|>'));
  assert.deepEqual(asDrop(c.adapt({ qid: 'q3', title: '问题', desc: '', answer: '  ' }, loc())), {
    drop: 'empty_turn',
    value: 'answer',
  });
  assert.throws(() => c.adapt({ qid: 'q4', title: '问题', answer: null }, loc()), /missing field "answer"/);
});

test('Zhihu-KOL: upvotes from METADATA, < 100 dropped, malformed metadata rejected', async () => {
  const c = await corpus('zhihu-kol');
  const md = (up: string) =>
    JSON.stringify({
      question_id: 493226651.0,
      answer_id: 2174424567.0,
      url: 'https://www.zhihu.com/question/493226651/answer/2174424567',
      upvotes: up,
      answer_creation_time: '2021-10-18T15:12:44.000Z',
    });
  const keep = asDoc(
    c.adapt(
      {
        INSTRUCTION: '怎么说服男朋友买烤箱？',
        RESPONSE: '烤箱可以烤制各种肉类！',
        SOURCE: 'Zhihu',
        METADATA: md('赞同 1.2 万'),
      },
      loc('/z/data/train-00000-of-00005.parquet', 1),
    ),
  );
  assert.equal(
    keep.text,
    `${SYS}<|im_start|>user\n怎么说服男朋友买烤箱?<|im_end|>\n<|im_start|>assistant\n烤箱可以烤制各种肉类!<|im_end|>`,
  );
  assert.equal(keep.meta.upvotes, 12000);
  assert.equal(keep.meta.url, 'https://www.zhihu.com/question/493226651/answer/2174424567');
  assert.equal(
    asDoc(
      c.adapt(
        { INSTRUCTION: '问', RESPONSE: '答得很好很详细的回答内容', SOURCE: 'Zhihu', METADATA: md('赞同 100') },
        loc(),
      ),
    ).meta.upvotes,
    100,
  );
  assert.deepEqual(
    asDrop(c.adapt({ INSTRUCTION: '问', RESPONSE: '答', SOURCE: 'Zhihu', METADATA: md('赞同 99') }, loc())),
    { drop: 'zhihu_upvotes', value: 99 },
  );
  assert.deepEqual(
    asDrop(c.adapt({ INSTRUCTION: '问', RESPONSE: '答', SOURCE: 'Zhihu', METADATA: md('赞同') }, loc())),
    { drop: 'zhihu_upvotes', value: 0 },
  );
  assert.throws(
    () => c.adapt({ INSTRUCTION: '问', RESPONSE: '答', SOURCE: 'Zhihu', METADATA: '{not json' }, loc()),
    /METADATA is not valid JSON/,
  );
  assert.throws(
    () => c.adapt({ INSTRUCTION: '问', RESPONSE: '答', SOURCE: 'Zhihu', METADATA: md('很多') }, loc()),
    /METADATA.upvotes not understood: "很多"/,
  );
  assert.throws(
    () => c.adapt({ INSTRUCTION: '问', RESPONSE: '答', SOURCE: 'Zhihu' }, loc()),
    /missing field "METADATA"/,
  );
  assert.throws(
    () => c.adapt({ INSTRUCTION: '问', SOURCE: 'Zhihu', METADATA: md('赞同 500') }, loc()),
    /missing field "RESPONSE"/,
  );
});

test('upvote labels', () => {
  assert.equal(parseUpvotes('赞同 77'), 77);
  assert.equal(parseUpvotes('赞同 1.2 万'), 12000);
  assert.equal(parseUpvotes('3.4k'), 3400);
  assert.equal(parseUpvotes('1,024'), 1024);
  assert.equal(parseUpvotes(250), 250);
  assert.equal(parseUpvotes('赞同'), 0);
  assert.equal(parseUpvotes('abc'), undefined);
  assert.equal(parseUpvotes(null), undefined);
});

test('BELLE 2M (instruction/input/output) and 3.5M (conversations) as ChatML', async () => {
  const b2 = await corpus('belle-2m');
  const d2 = asDoc(
    b2.adapt(
      {
        instruction: '编写一个Python函数，计算给定列表的平均值。',
        input: 'nums = [3, 5, 2, 8, 10]',
        output: '```python\r\ndef mean(xs):\n    return sum(xs) / len(xs)\n```',
      },
      loc(),
    ),
  );
  assert.equal(
    d2.text,
    `${SYS}<|im_start|>user\n编写一个Python函数,计算给定列表的平均值。\nnums = [3, 5, 2, 8, 10]<|im_end|>\n<|im_start|>assistant\n\`\`\`python\ndef mean(xs):\n    return sum(xs) / len(xs)\n\`\`\`<|im_end|>`,
  );
  assert.ok(
    asDoc(
      b2.adapt({ instruction: '给出三个学习建议。', input: '', output: '多读书，多思考，多练习。' }, loc()),
    ).text.includes('user\n给出三个学习建议。<|im_end|>'),
  );
  assert.throws(() => b2.adapt({ instruction: '只有指令' }, loc()), /missing field "output"/);

  const b35 = await corpus('belle-3.5m');
  const rec = {
    id: '66182880',
    conversations: [
      { from: 'human', value: '针对健身房的新手，设计一套健身器械使用指南。' },
      { from: 'assistant', value: '1. 开始前，请先进行热身运动。' },
      { from: 'human', value: '还有呢？' },
      { from: 'assistant', value: '2. 注意正确的姿势。' },
    ],
  };
  const d35 = asDoc(b35.adapt(rec, loc()));
  assert.equal(d35.id, 'belle-3.5m/66182880');
  assert.equal(d35.meta.turns, 2);
  assert.equal(
    d35.text,
    `${SYS}<|im_start|>user\n针对健身房的新手,设计一套健身器械使用指南。<|im_end|>\n<|im_start|>assistant\n1. 开始前,请先进行热身运动。<|im_end|>\n<|im_start|>user\n还有呢?<|im_end|>\n<|im_start|>assistant\n2. 注意正确的姿势。<|im_end|>`,
  );
  assert.throws(
    () => b35.adapt({ id: '1', conversations: [{ from: 'assistant', value: '先答' }] }, loc()),
    /conversations\[0\]: assistant turn without a user turn/,
  );
  assert.throws(
    () =>
      b35.adapt(
        {
          id: '1',
          conversations: [
            { from: 'human', value: 'a' },
            { from: 'human', value: 'b' },
          ],
        },
        loc(),
      ),
    /two user turns in a row/,
  );
  assert.throws(
    () => b35.adapt({ id: '1', conversations: [{ from: 'human', value: 7 }] }, loc()),
    /conversations\[0\].value must be a string, got number/,
  );
  assert.throws(
    () => b35.adapt({ id: '1', conversations: [{ from: 'robot', value: 'x' }] }, loc()),
    /unknown role "robot"/,
  );
  assert.throws(() => b35.adapt({ id: '1' }, loc()), /no conversation found/);
  assert.deepEqual(asDrop(b35.adapt({ id: '1', conversations: [{ from: 'human', value: '只有问题' }] }, loc())), {
    drop: 'empty_turn',
    value: 'no turns',
  });
});

test('MOSS-003-sft: YeungNLP turns and fnlp chat.turn_N layouts', async () => {
  const c = await corpus('moss-003-sft');
  const d = asDoc(
    c.adapt(
      {
        conversation_id: 1,
        category: 'Brainstorming',
        conversation: [
          {
            human: '如何保障工作中遵循正确的安全准则？',
            assistant: '以下是一些建议：\r\n\r\n1.了解相关安全规定和标准。',
          },
          { human: '如何应对突发紧急情况？', assistant: '保持冷静。' },
        ],
      },
      loc(),
    ),
  );
  assert.equal(d.id, 'moss-003-sft/1');
  assert.equal(d.meta.category, 'Brainstorming');
  assert.equal(
    d.text,
    `${SYS}<|im_start|>user\n如何保障工作中遵循正确的安全准则?<|im_end|>\n<|im_start|>assistant\n以下是一些建议:\n\n1.了解相关安全规定和标准。<|im_end|>\n<|im_start|>user\n如何应对突发紧急情况?<|im_end|>\n<|im_start|>assistant\n保持冷静。<|im_end|>`,
  );
  const f = asDoc(
    c.adapt(
      {
        conversation_id: 2,
        meta_instruction: 'You are MOSS',
        num_turns: 2,
        chat: {
          turn_2: { Human: '<|Human|>: 再详细一点<eoh>\n', MOSS: '<|MOSS|>: 好的，详细来说……<eom>\n' },
          turn_1: { Human: '<|Human|>: 介绍一下复旦大学<eoh>\n', MOSS: '<|MOSS|>: 复旦大学位于上海。<eom>\n' },
        },
      },
      loc(),
    ),
  );
  assert.equal(
    f.text,
    `${SYS}<|im_start|>user\n介绍一下复旦大学<|im_end|>\n<|im_start|>assistant\n复旦大学位于上海。<|im_end|>\n<|im_start|>user\n再详细一点<|im_end|>\n<|im_start|>assistant\n好的,详细来说......<|im_end|>`,
    'NFKC folds the ellipsis',
  );
  assert.throws(
    () => c.adapt({ conversation_id: 3, conversation: [{ human: '问' }] }, loc()),
    /conversation\[0\].assistant must be a string, got undefined/,
  );
  assert.throws(() => c.adapt({ conversation_id: 3, chat: { turn_1: 'x' } }, loc()), /chat.turn_1 must be an object/);
});

test('Firefly: input/target as ChatML, kind kept in meta', async () => {
  const c = await corpus('firefly-1.1m');
  const d = asDoc(
    c.adapt(
      {
        kind: 'Couplet',
        input: '根据上联给出下联：风阅大江头，风流何处？江流何处',
        target: '下联：人浮沧海外，人在天涯，海在天涯',
      },
      loc(),
    ),
  );
  assert.equal(
    d.text,
    `${SYS}<|im_start|>user\n根据上联给出下联:风阅大江头,风流何处?江流何处<|im_end|>\n<|im_start|>assistant\n下联:人浮沧海外,人在天涯,海在天涯<|im_end|>`,
  );
  assert.equal(d.meta.kind, 'Couplet');
  assert.throws(
    () => c.adapt({ kind: 'NER', input: 'x', target: 1 }, loc()),
    /field "target" must be a string, got number/,
  );
});

test('StarCoderData: code with repo metadata and language from the shard folder', async () => {
  const c = await corpus('starcoderdata');
  const code = '#include <iostream>\r\nint main() { std::cout << "hi"; }\n';
  const d = asDoc(
    c.adapt(
      { id: '0', content: code, max_stars_repo_path: 'src/main.cpp', max_stars_repo_name: 'a/b', max_stars_count: 3 },
      loc('/s/cpp/train-00000-of-00048.parquet', 1),
    ),
  );
  assert.equal(d.text, '#include <iostream>\nint main() { std::cout << "hi"; }\n');
  assert.equal(d.lang, 'code');
  assert.equal(d.meta.programming_language, 'cpp');
  assert.equal(d.meta.max_stars_repo_path, 'src/main.cpp');
  assert.equal(d.meta.max_stars_count, 3);
  const d2 = asDoc(
    c.adapt(
      {
        id: '0',
        content: 'print(1)\n',
        max_stars_repo_path: 'a.py',
        max_stars_repo_name: 'x/y',
        max_stars_count: null,
      },
      loc('/s/python/train-00000-of-00059.parquet', 1),
    ),
  );
  assert.notEqual(d.id, d2.id, 'row ids repeat across shards, document ids must not');
  assert.equal(d2.meta.max_stars_count, undefined);
  assert.throws(() => c.adapt({ id: '1', content: null }, loc()), /missing field "content"/);
});

test('sample: passthrough keeps id/source/lang/meta, NFC + \\r only (no NFKC folding)', async () => {
  const c = await corpus('sample');
  const rec = {
    id: 'fortunes-zh/tang300/0001',
    text: '《感遇》\r\n兰叶春葳蕤，桂华秋皎洁。（全角）',
    source: 'fortunes-zh',
    lang: 'zh',
    meta: { package: 'fortunes-zh', license: 'GPL-3.0+' },
  };
  const d = asDoc(c.adapt(rec, loc()));
  assert.deepEqual(d, {
    id: 'fortunes-zh/tang300/0001',
    text: '《感遇》\n兰叶春葳蕤，桂华秋皎洁。（全角）',
    source: 'fortunes-zh',
    lang: 'zh',
    meta: { package: 'fortunes-zh', license: 'GPL-3.0+' },
  });
  assert.equal(asDoc(c.adapt({ id: 'a', text: 'e\u0301', source: 's', meta: {} }, loc())).text, '\u00e9');
  assert.throws(() => c.adapt({ id: 'a', text: 'x', source: 's', meta: [] }, loc()), /"meta" must be an object/);
  assert.throws(() => c.adapt({ id: 3, text: 'x', source: 's' }, loc()), /"id" must be a non-empty string/);
  assert.throws(() => c.adapt({ id: 'a', source: 's' }, loc()), /missing field "text"/);
  const files = localFiles(c)!;
  assert.ok(files.length >= 5 && files.every((f) => f.endsWith('.jsonl.zst')), `sample files: ${files.join(', ')}`);
});

test('a manifest outside corpora-manifests/ can be loaded by path', async () => {
  const dir = tmpDir('steel-own-');
  mkdirSync(join(dir, 'x'));
  const p = join(dir, 'my-corpus.yaml');
  writeFileSync(
    p,
    'name: my-corpus\ntitle: Mine\npublisher: me\nlanguage: [en]\nlicense: CC0-1.0\nformat: jsonl\nurls: ["https://example.org/a.jsonl"]\nfields: {body: string}\nunify: {kind: text, field: body, min_chars: 3}\n',
  );
  const c = await getCorpus(p);
  assert.ok(c);
  assert.equal(c.reader.textField, 'body');
  assert.equal(asDoc(c.adapt({ body: 'hello' }, loc())).text, 'hello');
  assert.deepEqual(asDrop(c.adapt({ body: 'hi' }, loc())), { drop: 'min_chars', value: 2 });
});

test('normalizeNfc is NFC without "\r" on random texts: below U+0300 left as it is, combining marks, Hangul, singletons', () => {
  // pieces: one-byte text (ASCII, Latin-1), U+0100-U+02FF, units NFC changes or composes (combining marks, Hangul
  // jamo, the Angstrom sign, a CJK compatibility ideograph, an astral decomposition), CR, LF
  const pieces = ['a', 'e', 'A', ' ', 'é', '\u00a0', 'ÿ', 'ā', 'ʼ', '\u02ff', '\u0301', '\u030a', '\u0327', '\u0300'];
  pieces.push('\u1100', '\u1161', '\u11a8', '가', '\u212b', '\uf900', '\ud834\udd5e', '中', '\r', '\n', '\r\n');
  let seed = 7;
  const rnd = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), seed % n);
  const texts = ['', 'plain ascii\r\nline', 'café\r', 'e\u0301', 'A\u030a', '\u1100\u1161\u11a8', 'ÿ\u0301', 'ā\u0300'];
  for (let k = 0; k < 3000; k++) {
    let t = '';
    // half of them of one-byte pieces only (the first seven)
    const from = k % 2 ? 7 : pieces.length;
    for (let n = 1 + rnd(12); n > 0; n--) t += pieces[rnd(from)];
    texts.push(t);
  }
  for (const t of texts) assert.equal(normalizeNfc(t), t.replace(/\r/g, '').normalize('NFC'), JSON.stringify(t));
});
