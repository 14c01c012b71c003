import { test } from 'node:test';
import assert from 'node:assert/strict';
import { extractAnswer, rewriteReply, ratio, partialRatio, weightedRatio, fuzzProcess } from './extract.ts';

const Q = '关于传输层的面向连接服务的特性是____。';
const C = [
  '既不保证可靠，也不保证按序交付',
  '不保证可靠，但保证按序交付',
  '保证可靠，但不保证按序交付',
  '既保证可靠，也保证按序交付',
];
const Q2 = '下列属于哺乳动物的是';
const C2 = ['鲸鱼', '鲨鱼', '金枪鱼', '海马'];

test('rewrite: the stem becomes 答案是 and option texts become letters, longest first', () => {
  assert.equal(rewriteReply('关于传输层的面向连接服务的特性是既保证可靠，也保证按序交付', Q, C), '答案是D');
  // "保证可靠，但不保证按序交付" (C) is inside no longer option, but "不保证可靠，但保证按序交付" (B) is replaced first (same length, earlier)
  assert.equal(rewriteReply('不保证可靠，但保证按序交付', Q, C), 'B');
  // short stems (<= 4 characters) are left alone
  assert.equal(rewriteReply('鲸鱼是对的', '选出', C2), 'A是对的');
  // an empty option text never rewrites the reply (str.replace("") would insert the letter everywhere)
  assert.equal(rewriteReply('我不知道', '问题', ['', 'x', 'y', 'z']), '我不知道');
});

const cases: [string, string, string, string[], string][] = [
  // [reply, expected letter, expected rule, choices, question]
  ['答案是B', 'B', 'lead', C2, Q2],
  ['答案：C。', 'C', 'lead', C2, Q2],
  ['答案为 D', 'D', 'lead', C2, Q2],
  ['正确答案是A，因为鲸鱼用肺呼吸。', 'A', 'lead', C2, Q2],
  ['我选C', 'C', 'lead', C2, Q2],
  ['应该选择：B', 'B', 'lead', C2, Q2],
  ['选定D选项。', 'D', 'lead', C2, Q2],
  ['【答案】A', 'A', 'lead', C2, Q2],
  ['选项B是正确的。', 'B', 'correct', C2, Q2], // 是 must come before the letter for `lead`
  ['答案是 C', 'C', 'lead', C2, Q2],
  ['答案是B\n', 'B', 'lead', C2, Q2], // Python's $ before a final newline
  // negation guard: "答案不是A" must not give A; the later "选B" does
  ['答案不是A，应该选B。', 'B', 'lead', C2, Q2],
  ['选项A不正确，C正确。', 'C', 'correct', C2, Q2],
  ['A选项正确', 'A', 'correct', C2, Q2],
  ['D项符合题意', 'D', 'correct', C2, Q2],
  ['B对的', 'B', 'correct', C2, Q2],
  ['A不对，B对的。', 'B', 'correct', C2, Q2],
  ['C', 'C', 'start', C2, Q2],
  ['A.', 'A', 'start', C2, Q2],
  ['(B) 因为……', 'B', 'start', C2, Q2],
  ['（D）', 'D', 'start', C2, Q2],
  ['B：鲨鱼', 'B', 'start', C2, Q2],
  ['经过分析，最终答案是C项', 'C', 'final', C2, Q2],
  ['I think the correct one is B here', 'B', 'first', C2, Q2], // "I" is a Latin word? no: A-D only
  ['ABC都不对，看 D', 'D', 'first', ['x1', 'x2', 'x3', 'x4'], '题目题目题目'],
  ['DNA is in B', 'B', 'first', C2, Q2], // the D of DNA is inside a Latin word
  ['x=A then C', 'C', 'first', C2, Q2], // "A" followed by nothing Latin but preceded by "="? (?<![a-zA-Z]) allows =, so A
  // option text rewritten to its letter
  ['鲸鱼属于哺乳动物', 'A', 'first', C2, Q2],
  ['是金枪鱼吧', 'C', 'first', C2, Q2],
  ['关于传输层的面向连接服务的特性是既保证可靠，也保证按序交付', 'D', 'lead', C, Q],
  // nothing to match: fuzzy
  ['我觉得是海里的马', 'D', 'fuzzy', C2, Q2],
  ['不知道', 'A', 'fuzzy', C2, Q2],
];

test('extractAnswer: hand-written replies', () => {
  const bad: string[] = [];
  for (const [reply, want, rule, choices, q] of cases) {
    if (reply === 'x=A then C') {
      // A is preceded by "=", not a letter: the first rule that matches takes A
      assert.equal(extractAnswer(reply, q, choices).letter, 'A', reply);
      continue;
    }
    const r = extractAnswer(reply, q, choices);
    if (r.letter !== want || r.rule !== rule)
      bad.push(`${reply} -> ${r.letter} by ${r.rule} (want ${want} by ${rule}; rewritten ${r.rewritten})`);
  }
  assert.deepEqual(bad, []);
});

test('extractAnswer: the negation guard blocks 不/非 between 答案/选项 and 是', () => {
  assert.equal(extractAnswer('答案并非A', Q2, C2).rule, 'first'); // lead blocked; the first free letter is A anyway
  assert.equal(extractAnswer('选项非B是', Q2, C2).rule === 'lead', false);
  assert.equal(extractAnswer('B不正确', Q2, C2).rule, 'first');
});

test('fuzzy: ratios on known pairs', () => {
  assert.equal(ratio('abcd', 'abcd'), 100);
  assert.equal(ratio('abcd', 'abxd'), 75);
  assert.equal(partialRatio('bc', 'abcd'), 100);
  assert.equal(fuzzProcess('Hello, World!'), 'hello  world');
  assert.equal(weightedRatio('', 'x'), 0);
  assert.ok(weightedRatio('海里的马', '海马') > weightedRatio('海里的马', '鲸鱼'));
});
