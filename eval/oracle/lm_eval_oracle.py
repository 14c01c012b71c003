#!/usr/bin/env python3
"""Independent oracle for `steel eval --protocol loglik`: runs lm-evaluation-harness on one C-Eval-layout subject.

usage: lm_eval_oracle.py HF_DIR CEVAL_DIR SUBJECT ZH_TITLE SHOTS OUT.json

Writes a local lm-evaluation-harness task in the same format as steel's loglik prompt (description, "\\n\\n"-joined
solved dev examples, question, "A. .." options, "答案：", continuations " A".." D"), evaluates the exported HF model
with the harness's own HFLM (CPU, float32, batch 1) and writes {"acc": .., "items": [{"doc_id", "logliks": [4]}]}.
The CSV is read with Python's csv module and handed to the harness as JSON lines (all fields strings, as steel reads
them; pandas would turn an option "01" into 1).
"""
import csv
import json
import os
import sys
import tempfile


def main() -> None:
    hf_dir, ceval_dir, subject, zh_title, shots, out = sys.argv[1:7]
    shots = int(shots)
    tmp = tempfile.mkdtemp(prefix='steel-oracle-')
    splits = {}
    for split in ('val', 'dev'):
        path = os.path.join(ceval_dir, split, f'{subject}_{split}.csv')
        with open(path, encoding='utf-8', newline='') as f:
            rows = list(csv.DictReader(f))
        jl = os.path.join(tmp, f'{split}.jsonl')
        with open(jl, 'w', encoding='utf-8') as f:
            for r in rows:
                f.write(json.dumps({k: r[k] for k in ('question', 'A', 'B', 'C', 'D', 'answer')}, ensure_ascii=False) + '\n')
        splits[split] = jl
    task = {
        'task': 'steel_oracle',
        'dataset_path': 'json',
        'dataset_kwargs': {'data_files': {'validation': splits['val'], 'dev': splits['dev']}},
        'test_split': 'validation',
        'fewshot_split': 'dev',
        'fewshot_config': {'sampler': 'first_n'},
        'output_type': 'multiple_choice',
        'description': f'以下是中国关于{zh_title}考试的单项选择题，请选出其中的正确答案。\n\n',
        'doc_to_text': '{{question.strip()}}\nA. {{A}}\nB. {{B}}\nC. {{C}}\nD. {{D}}\n答案：',
        'doc_to_choice': ['A', 'B', 'C', 'D'],
        'doc_to_target': "{{['A', 'B', 'C', 'D'].index(answer)}}",
        'metric_list': [{'metric': 'acc', 'aggregation': 'mean', 'higher_is_better': True}],
    }
    with open(os.path.join(tmp, 'steel_oracle.yaml'), 'w', encoding='utf-8') as f:
        json.dump(task, f, ensure_ascii=False)  # JSON is YAML

    from lm_eval import simple_evaluate
    from lm_eval.tasks import TaskManager

    res = simple_evaluate(
        model='hf', model_args={'pretrained': hf_dir, 'dtype': 'float32', 'trust_remote_code': False},
        tasks=['steel_oracle'], num_fewshot=shots, batch_size=1, device='cpu', log_samples=True,
        task_manager=TaskManager(include_path=tmp), bootstrap_iters=0,
    )
    items = []
    for s in sorted(res['samples']['steel_oracle'], key=lambda s: s['doc_id']):
        items.append({'doc_id': s['doc_id'], 'logliks': [float(r[0][0]) for r in s['resps']], 'target': s['target']})
    acc = res['results']['steel_oracle']['acc,none']
    with open(out, 'w', encoding='utf-8') as f:
        json.dump({'acc': acc, 'items': items, 'lm_eval': __import__('lm_eval').__version__}, f)


if __name__ == '__main__':
    main()
