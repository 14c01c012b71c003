#!/usr/bin/env python3
"""Run data-juicer's own operator code (the steel-text recipe) on a JSONL of documents.

The data-juicer source is *not* part of this repository: pass a checkout of its public source on the command line
(the commit before Steel-LLM's steel_project_txt.yaml, 449475b, 2024-04-30). Only data-juicer's registry, base classes,
op-fusion registries, model loading and jsonargparse type aliases are stubbed here; every operator module, its helpers
(ops/common) and its constants are data-juicer's own files, executed unchanged.

Each mapper is run on the previous mapper's output, and the text after every mapper is written, so the TypeScript side
(parity.ts) can run each of our operators on exactly the same input. Every filter's statistic and keep/drop decision
is computed on the text after the last mapper.

Python packages (from the local index): ftfy, regex, loguru, zstandard; selectolax 0.3.21 (built from its source at
410bf33, Cython 0.29, Modest 2540a03); emoji 2.2.0 (data-juicer's pin; pass its source tree with --emoji).
OpenCC 1.1.6 (data-juicer's pin) is not installable here: chinese_convert_mapper is skipped (identity) when
`import opencc` fails, and the output records that.

usage: dj_run.py --dj DATA_JUICER_SRC [--emoji EMOJI_SRC] --in docs.jsonl --out dj.jsonl
"""
import argparse
import importlib.util
import json
import sys
import types


def stub_modules(dj_root):
    """Register package shells and stubs so that data-juicer's operator modules import without its framework."""
    def pkg(name, path=None):
        m = types.ModuleType(name)
        m.__path__ = [path] if path else []
        sys.modules[name] = m
        return m

    pkg('data_juicer', f'{dj_root}/data_juicer')
    pkg('data_juicer.ops', f'{dj_root}/data_juicer/ops')
    pkg('data_juicer.ops.mapper', f'{dj_root}/data_juicer/ops/mapper')
    pkg('data_juicer.ops.filter', f'{dj_root}/data_juicer/ops/filter')
    pkg('data_juicer.utils', f'{dj_root}/data_juicer/utils')

    # registry + base classes (stub)
    base = types.ModuleType('data_juicer.ops.base_op')

    class Registry:
        def __init__(self, name):
            self.name, self.modules = name, {}

        def register_module(self, name):
            def deco(cls):
                self.modules[name] = cls
                return cls
            return deco

    class OP:
        def __init__(self, *args, **kwargs):
            self.text_key = kwargs.get('text_key', 'text')

    class Mapper(OP):
        pass

    class Filter(OP):
        pass

    base.Registry, base.OP, base.Mapper, base.Filter = Registry, OP, Mapper, Filter
    base.OPERATORS = Registry('Operators')
    sys.modules['data_juicer.ops.base_op'] = base

    fusion = types.ModuleType('data_juicer.ops.op_fusion')
    fusion.INTER_LINES, fusion.INTER_WORDS = Registry('lines'), Registry('words')
    sys.modules['data_juicer.ops.op_fusion'] = fusion

    avail = types.ModuleType('data_juicer.utils.availability_utils')

    class AvailabilityChecking:
        def __init__(self, *a, **k):
            pass

        def __enter__(self):
            return self

        def __exit__(self, exc_type, exc, tb):
            # an optional model package (transformers, kenlm, sentencepiece) that the steel-text ops do not use
            return exc_type is not None and issubclass(exc_type, ImportError)

    avail.AvailabilityChecking = AvailabilityChecking
    sys.modules['data_juicer.utils.availability_utils'] = avail

    mu = types.ModuleType('data_juicer.utils.model_utils')
    mu.prepare_model = lambda *a, **k: None
    mu.get_model = lambda *a, **k: None
    sys.modules['data_juicer.utils.model_utils'] = mu

    ja = types.ModuleType('jsonargparse')
    ja.__path__ = []
    jt = types.ModuleType('jsonargparse.typing')
    jt.PositiveInt, jt.PositiveFloat, jt.ClosedUnitInterval = int, float, float
    sys.modules['jsonargparse'], sys.modules['jsonargparse.typing'] = ja, jt


def load(dj_root, kind, name):
    modname = f'data_juicer.ops.{kind}.{name}'
    spec = importlib.util.spec_from_file_location(modname, f'{dj_root}/data_juicer/ops/{kind}/{name}.py')
    mod = importlib.util.module_from_spec(spec)
    sys.modules[modname] = mod
    spec.loader.exec_module(mod)
    return mod


# the steel-text recipe (pipeline/recipes/steel-text.yaml), in data-juicer's names and parameters
MAPPERS = [
    ('chinese_convert_mapper', 'ChineseConvertMapper', {'mode': 't2s'}),
    ('clean_email_mapper', 'CleanEmailMapper', {}),
    ('clean_html_mapper', 'CleanHtmlMapper', {}),
    ('clean_ip_mapper', 'CleanIpMapper', {}),
    ('clean_links_mapper', 'CleanLinksMapper', {}),
    ('clean_copyright_mapper', 'CleanCopyrightMapper', {}),
    ('expand_macro_mapper', 'ExpandMacroMapper', {}),
    ('fix_unicode_mapper', 'FixUnicodeMapper', {}),
    ('punctuation_normalization_mapper', 'PunctuationNormalizationMapper', {}),
    ('remove_repeat_sentences_mapper', 'RemoveRepeatSentencesMapper',
     {'lowercase': False, 'ignore_special_character': True, 'min_repeat_sentence_length': 2}),
    ('remove_specific_chars_mapper', 'RemoveSpecificCharsMapper', {'chars_to_remove': '◆●■►▼▲▴∆▻▷❖♡□'}),
    ('whitespace_normalization_mapper', 'WhitespaceNormalizationMapper', {}),
]
# perplexity_filter needs data-juicer's KenLM/sentencepiece models and is not run (a listed deviation)
FILTERS = [
    ('alphanumeric_filter', 'AlphanumericFilter', {'tokenization': False, 'min_ratio': 0.0, 'max_ratio': 0.9}),
    ('average_line_length_filter', 'AverageLineLengthFilter', {'min_len': 10, 'max_len': 150}),
    ('character_repetition_filter', 'CharacterRepetitionFilter', {'rep_len': 10, 'min_ratio': 0.0, 'max_ratio': 0.4}),
    ('maximum_line_length_filter', 'MaximumLineLengthFilter', {'min_len': 10, 'max_len': 1000}),
    ('special_characters_filter', 'SpecialCharactersFilter', {'min_ratio': 0.0, 'max_ratio': 0.25}),
    ('text_length_filter', 'TextLengthFilter', {'min_len': 10, 'max_len': 100000}),
    ('word_num_filter', 'WordNumFilter', {'lang': 'zh', 'tokenization': False, 'min_num': 10, 'max_num': 10000}),
    ('word_repetition_filter', 'WordRepetitionFilter',
     {'lang': 'zh', 'tokenization': False, 'rep_len': 10, 'min_ratio': 0.0, 'max_ratio': 0.5}),
]


def main():
    ap = argparse.ArgumentParser(description=__doc__.split('\n')[0])
    ap.add_argument('--dj', required=True, help='data-juicer source tree (contains data_juicer/)')
    ap.add_argument('--emoji', help='emoji package source tree to use (data-juicer pinned emoji==2.2.0)')
    ap.add_argument('--in', dest='inp', required=True)
    ap.add_argument('--out', required=True)
    a = ap.parse_args()
    if a.emoji:
        sys.path.insert(0, a.emoji)
    stub_modules(a.dj)
    from data_juicer.utils.constant import Fields  # data-juicer's own constants
    import emoji
    import ftfy

    mappers = []
    for mod, cls, params in MAPPERS:
        if mod == 'chinese_convert_mapper':
            try:
                import opencc  # noqa: F401
            except ImportError:
                print('opencc is not installed: chinese_convert_mapper runs as identity', file=sys.stderr)
                mappers.append((mod, None))
                continue
        mappers.append((mod, getattr(load(a.dj, 'mapper', mod), cls)(**params)))
    filters = [(mod, getattr(load(a.dj, 'filter', mod), cls)(**params)) for mod, cls, params in FILTERS]

    n = 0
    with open(a.inp, encoding='utf-8') as fin, open(a.out, 'w', encoding='utf-8') as fout:
        meta = {'versions': {'ftfy': ftfy.__version__, 'emoji': emoji.__version__},
                'skipped': [m for m, op in mappers if op is None] + ['perplexity_filter']}
        fout.write(json.dumps({'meta': meta}, ensure_ascii=False) + '\n')
        for line in fin:
            doc = json.loads(line)
            sample = {'text': doc['text'], Fields.stats: {}}
            texts = {}
            for mod, op in mappers:
                if op is not None:
                    sample = op.process(sample)
                texts[mod] = sample['text']
            stats, keep = {}, {}
            for mod, op in filters:
                sample = op.compute_stats(sample)
                keep[mod] = bool(op.process(sample))
            stats = {k: v for k, v in sample[Fields.stats].items()}
            fout.write(json.dumps({'id': doc.get('id', n), 'input': doc['text'], 'after': texts, 'stats': stats,
                                   'keep': keep}, ensure_ascii=False) + '\n')
            n += 1
    print(f'{n} documents -> {a.out}', file=sys.stderr)


if __name__ == '__main__':
    main()
