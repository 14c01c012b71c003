#!/usr/bin/env python3
"""ftfy's own answers for filters/ftfy.test.ts: ftfy.fix_text (defaults, as data-juicer's fix_unicode_mapper calls it)
on crafted strings and on real lines of the bundled sample (corpora-manifests/sample), plus those lines turned into
mojibake the usual ways (UTF-8 bytes read as Windows-1252, Latin-1, Windows-1251, MacRoman, cp437, ...).

  python3 filters/dj-parity/gen_ftfy_fixtures.py      # needs ftfy 6.3.1 and zstandard (local package index)

writes filters/ftfy-fixtures.json: {"ftfy": version, "cases": [[input, fix_text(input)], ...]}.
"""
import glob
import json
import os
import random

import ftfy
import zstandard

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..', '..')

CRAFTED = [
    # the cases
    'ﬁle ﬂow ﬀ ﬃ ﬄ ﬅ ﬆ Ĳssel ǆ', 'ｶﾀｶﾅ ｱｲｳ ﾞﾟ', '｡｢｣､･', '￠￡￥￦ ￨￩￪￫￬￭￮', 'ＬＯＵＤ　ＮＯＩＳＥＳ，！？：；（）',
    '\x1b[31mred\x1b[0m and \x1b[1;32mbold\x1b[m', 'price \x80 5, \x93quoted\x94, \x85 dots \x81 \x8d \x9d',
    '¥ì¥¹', 'ソフト¥ì¥¹ト', 'âœ” No problems', '&macr;\\_(ã\x83\x84)_/&macr;', "Broken text&hellip; it&#x2019;s ﬂubberiﬁc!",
    'sÃ³', 'voilÃ le travail', 'Ã©tÃ© ä¸­æ–‡', 'cafÃ© naÃ¯ve', 'ä¸­æ–‡', 'The Mona Lisa doesnÃƒÂ¢Ã¢â€šÂ¬Ã¢â€žÂ¢t have eyebrows.',
    'Ð¿Ñ€Ð¸Ð²ÐµÑ‚', 'Ã¢â‚¬Å“Hello,Ã¢â‚¬Â', 'â€œmismatched quotes…â€', 'l’humanitÃ©', 'Ã\xa0 la', 'Ã  la carte',
    # HTML entities: decoded while no "<" was seen in the text, numeric references by html.unescape's rules
    'a &amp; b &lt;c&gt; &quot;d&quot; &#65;&#x42;&#X43; &#59; &#0; &#13; &#128; &#x110000; &#xD800; &#65a; &#abc; &AMP; &COPY; &nbsp;x',
    'no &amp; here <b>tag</b> &amp;', 'first &amp;\nsecond <i>\nthird &amp;', '&amp;lt; twice', '&Eacute;cole &eacute;t&eacute; &ETH;',
    # line breaks, controls, surrogates, BOM, normalisation
    'a\r\nb\rc\u2028d\u2029e\x85f', 'x\x00\x01\x08\x0b\x0c\x0e\x1f\x7fy', '\ufeffbom \u206a\u206f \ufff9\ufffa\ufffb\ufffc\ufffd',
    'e\u0301 A\u030a Å ﬁ ² ™', 'curly ‘single’ “double” ‚low„ ‛rev‟ ʼmod', '全角，标点。“引号”（括号）【方括号】——破折号……',
    '繁體中文測試，這是一個句子。', '中文 · 间隔号 — 破折 … 省略', '日本語のテキスト、「かぎかっこ」。', '한국어 텍스트입니다',
    'Ελληνικά κείμενο', 'Русский текст', 'tab\tand  spaces\u3000ideographic', '😀 emoji 👍🏽 🇨🇳 flags',
    '×² ×³ Ã— â€” Â©', 'Â£100 Â°C Â± Â½', 'â€”â€“â€˜â€™', 'Ã¼ber Ã¶l', '\xa0\xa0nbsp lead', 'ÃƒÂ©', 'Ãƒ©',
    'Ã¢â€žÂ¢', 'Ð²Ð¾Ñ\x81ÑŒ', 'Ã‚Â', 'Ã', 'Â', 'âœ', 'ä¸', 'â\x80\x9cquoted\x80\x9d', 'Ã¡Ã©Ã­Ã³Ãº',
]

MOJIBAKE_ENCODINGS = ['sloppy-windows-1252', 'latin-1', 'sloppy-windows-1251', 'macroman', 'cp437', 'sloppy-windows-1250',
                      'iso-8859-2']


def sample_lines():
    lines = []
    for path in sorted(glob.glob(os.path.join(ROOT, 'corpora-manifests', 'sample', '*.jsonl.zst'))):
        with open(path, 'rb') as f:
            data = zstandard.ZstdDecompressor().stream_reader(f).read().decode('utf-8')
        for rec in data.splitlines():
            if not rec:
                continue
            for line in json.loads(rec)['text'].split('\n'):
                if line.strip() and any(ord(c) >= 0x80 for c in line) and len(line) < 400:
                    lines.append(line)
    return lines


def main():
    rng = random.Random(22)
    lines = sample_lines()
    picked = rng.sample(lines, 400)
    cases = list(CRAFTED) + picked
    for line in picked[:150]:
        enc = rng.choice(MOJIBAKE_ENCODINGS)
        try:
            cases.append(line.encode('utf-8').decode(enc))
        except UnicodeDecodeError:
            pass
    # a multi-line document: segments are fixed separately, "<" turns entity decoding off for the rest
    cases.append('\n'.join(picked[150:170] + ['x &amp; y', 'caf\u00c3\u00a9', '<p>', 'x &amp; y']))
    out = {'ftfy': ftfy.__version__, 'cases': [[c, ftfy.fix_text(c)] for c in cases]}
    path = os.path.join(ROOT, 'filters', 'ftfy-fixtures.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(out, f, ensure_ascii=False, indent=0)
        f.write('\n')
    changed = sum(1 for a, b in out['cases'] if a != b)
    print(f'{len(cases)} cases ({changed} changed by ftfy) -> {path}')


if __name__ == '__main__':
    main()
