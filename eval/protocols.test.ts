import { test } from 'node:test';
import assert from 'node:assert/strict';
import { rmSync } from 'node:fs';
import { getBenchmark, loadSplit } from './benchmarks.ts';
import { writeFixtures } from './fixtures.ts';
import { runTask, chatPrompt, chatUserPrompt, loglikContext, resultTable } from './protocols.ts';
import { BackendModel, type EvalModel, type LoglikRequest, type LoglikResult } from './lm.ts';
import { tinyQwenModel } from './testutil.ts';
import { generate } from '../train/generate.ts';
import { toModelIds } from '../train/load.ts';
import { UNK_RAW_ID } from '../train/config.ts';
import { decodeIds, loadTokenizer } from '../tokenizer/encode.ts';
import { encodeChatPrompt } from '../tokenizer/sft.ts';
import { renderChatPrompt, type ChatMessage } from '../pipeline/chat.ts';
import { tmpDir } from '../pipeline/test-fixtures/tmp-dir.ts';

/** answers every question with the text of option C ("我认为答案是<text of C>"); as loglik, prefers " C". */
class AlwaysC implements EvalModel {
  description = 'scripted: always C';
  prompts: string[] = [];
  contexts: string[] = [];
  async generate(prompt: string): Promise<string> {
    this.prompts.push(prompt);
    const c = /\nC\. (.*)\n/.exec(prompt)![1];
    return `我认为答案是${c}`;
  }
  async chat(messages: ChatMessage[], o: { maxTokens: number; system?: string }): Promise<string> {
    return this.generate(renderChatPrompt(messages, o.system));
  }
  async loglik(reqs: LoglikRequest[]): Promise<LoglikResult[]> {
    this.contexts.push(reqs[0].context);
    return reqs.map((r) => ({
      logprob: r.continuation === ' C' ? -1 : -2,
      greedy: false,
      tokens: 1,
      tokenLogprobs: [],
    }));
  }
}

function withDir(fn: (dir: string) => Promise<void>) {
  return async () => {
    const dir = tmpDir('steel-proto-');
    try {
      await fn(dir);
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  };
}

test(
  'chat-gen on the C-Eval fixture: hand-checkable per-subject, category and Hard scores',
  withDir(async (dir) => {
    const f = writeFixtures(dir);
    const data = loadSplit(getBenchmark('ceval'), f.ceval, 'val');
    const m = new AlwaysC();
    const { result: r, items } = await runTask(m, data, { protocol: 'chat-gen', shots: 0 });
    // val answers: computer_network C,C,B,A; advanced_mathematics C,A; marxism A,A; law C,C; physician B,B
    assert.deepEqual(Object.fromEntries(Object.entries(r.subjects).map(([k, s]) => [k, [s.correct, s.n]])), {
      computer_network: [2, 4],
      advanced_mathematics: [1, 2],
      marxism: [0, 2],
      law: [2, 2],
      physician: [0, 2],
    });
    assert.deepEqual(Object.fromEntries(Object.entries(r.categories).map(([k, s]) => [k, s.acc])), {
      STEM: 0.5,
      'Social Science': 0,
      Humanities: 1,
      Other: 0,
      Hard: 0.5,
    });
    assert.equal(r.average, 0.4); // (0.5 + 0.5 + 0 + 1 + 0) / 5
    assert.equal(r.micro, 5 / 12);
    assert.equal(r.maxNewTokens, 1024);
    assert.equal(items[0].rule, 'lead'); // "我认为答案是网络层" -> "我认为答案是C"
    // the prompt: ChatML, Steel's system, the C-Eval user turn with the blank as "( )"
    assert.equal(
      m.prompts[0],
      '<|im_start|>system\nYou are a helpful assistant.<|im_end|>\n<|im_start|>user\n以下是一道单选题:\n' +
        '在OSI参考模型中，负责路由选择的是( )\n\nA. 物理层\nB. 数据链路层\nC. 网络层\nD. 传输层\n请给出答案。\n<|im_end|>\n<|im_start|>assistant\n',
    );
    const table = resultTable(r);
    assert.match(table, /\| Hard \| 1 \| 50\.00 \|/);
    assert.match(table, /\| law \| 2 \| 2 \| 100\.00 \|/);
  }),
);

test(
  'loglik k-shot on CMMLU and MMLU fixtures; --limit takes the first N per subject',
  withDir(async (dir) => {
    const f = writeFixtures(dir);
    const cm = getBenchmark('cmmlu');
    const m = new AlwaysC();
    const { result: r } = await runTask(m, loadSplit(cm, f.cmmlu, 'test'), {
      protocol: 'loglik',
      shots: 1,
      dev: loadSplit(cm, f.cmmlu, 'dev'),
      limit: 2,
    });
    // first two per subject: agronomy B,C; chinese_history A,B; high_school_physics C
    assert.deepEqual(Object.fromEntries(Object.entries(r.subjects).map(([k, s]) => [k, [s.correct, s.n]])), {
      agronomy: [1, 2],
      chinese_history: [0, 2],
      high_school_physics: [1, 1],
    });
    assert.equal(r.categories['China specific'].acc, 0);
    assert.equal(r.categories.STEM.acc, 1);
    assert.equal(r.categories.Other.acc, 0.5);
    assert.equal(
      m.contexts[0],
      '以下是关于农学的单项选择题，请直接给出正确答案的选项。\n\n中国的首都是\nA. 上海\nB. 北京\nC. 广州\nD. 深圳\n答案： B\n\n' +
        '水稻属于哪一类植物\nA. 豆科\nB. 禾本科\nC. 十字花科\nD. 蔷薇科\n答案：',
    );
    const mm = getBenchmark('mmlu');
    const m2 = new AlwaysC();
    const { result: r2 } = await runTask(m2, loadSplit(mm, f.mmlu, 'test'), { protocol: 'loglik', shots: 0 });
    assert.equal(r2.subjects.astronomy.correct, 1);
    assert.equal(r2.average, (1 / 2 + 0 + 0) / 3);
    assert.equal(
      m2.contexts[0],
      'The following are multiple choice questions (with answers) about astronomy.\n\nWhich planet is closest to the Sun?\nA. Venus\nB. Earth\nC. Mercury\nD. Mars\nAnswer:',
    );
    // C-Eval test has hidden answers; chat-gen is 0-shot only
    const ce = getBenchmark('ceval');
    await assert.rejects(
      runTask(m, loadSplit(ce, f.ceval, 'test'), { protocol: 'loglik', shots: 0 }),
      /has no answers \(they are hidden\); evaluate the val split/,
    );
    await assert.rejects(
      runTask(m, loadSplit(ce, f.ceval, 'val'), { protocol: 'chat-gen', shots: 5 }),
      /chat-gen is 0-shot/,
    );
    await assert.rejects(
      runTask(m, loadSplit(ce, f.ceval, 'val'), { protocol: 'loglik', shots: 3, dev: loadSplit(ce, f.ceval, 'dev') }),
      /3-shot needs 3 dev examples, the folder has 2/,
    );
  }),
);

test('prompt builders', () => {
  const it = {
    task: 'ceval' as const,
    subject: 'law',
    split: 'val',
    id: '0',
    question: ' 问题____。 ',
    choices: ['a', 'b', 'c', 'd'] as [string, string, string, string],
    answer: 'A' as const,
    file: 'f',
    line: 2,
  };
  assert.equal(
    loglikContext(getBenchmark('ceval'), it, []),
    '以下是中国关于法学考试的单项选择题，请选出其中的正确答案。\n\n问题____。\nA. a\nB. b\nC. c\nD. d\n答案：',
  );
  assert.match(chatPrompt(it, 'zh'), /以下是一道单选题:\n 问题\( \) \n\nA\. a\n/);
});

test(
  'chat-gen in batches (ragged prompts) = one question at a time: same replies and extracted answers, both kinds',
  withDir(async (dir) => {
    const f = writeFixtures(dir);
    const data = loadSplit(getBenchmark('ceval'), f.ceval, 'val');
    const items = [...data.bySubject.values()].flat();
    const tk = loadTokenizer('qwen');
    for (const kind of ['tiny', 'tiny-dense'] as const) {
      const { be, vocabIds } = await tinyQwenModel(
        kind,
        items.map((it) => chatPrompt(it, 'zh')),
        { seed: 4 },
      );
      const model = new BackendModel(be, tk, vocabIds, kind);
      const o = { protocol: 'chat-gen' as const, shots: 0, maxNewTokens: 6 };
      const one = await runTask(model, data, { ...o, batch: 1 });
      const five = await runTask(model, data, { ...o, batch: 5 });
      const all = await runTask(model, data, { ...o, batch: 64 });
      // the reference: generate() on each prompt alone (the path chat-gen took before batching)
      const unk = vocabIds.indexOf(UNK_RAW_ID),
        eos = be.config.eosId;
      const ref: string[] = [],
        lens = new Set<number>();
      for (const it of items) {
        const raw = await encodeChatPrompt(
          tk.tok,
          [{ role: 'user', content: chatUserPrompt(it, 'zh') }],
          'You are a helpful assistant.',
        );
        lens.add(raw.length);
        const ids = await generate(be, toModelIds(raw, vocabIds), {
          maxTokens: 6,
          temperature: 0,
          topP: 1,
          seed: 0,
          stopIds: [eos],
          banIds: [unk],
        });
        ref.push(
          await decodeIds(
            tk.tok,
            ids.filter((i) => i !== eos).map((i) => vocabIds[i]),
            true,
          ),
        );
      }
      assert.ok(lens.size > 5, 'the prompts have different lengths');
      assert.ok(new Set(ref).size > 1, 'the replies differ between questions');
      for (const r of [one, five, all]) {
        assert.deepEqual(
          r.items.map((x) => x.reply),
          ref,
        );
        assert.deepEqual(
          r.items.map((x) => [x.id, x.pred, x.rule]),
          one.items.map((x) => [x.id, x.pred, x.rule]),
        );
        assert.deepEqual(r.result.subjects, one.result.subjects);
      }
      await be.dispose();
    }
  }),
);
