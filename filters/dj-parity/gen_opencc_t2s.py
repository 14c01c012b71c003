#!/usr/bin/env python3
"""OpenCC 1.1.6's t2s dictionaries (the OpenCC data-juicer pinned, opencc==1.1.6) for chinese_convert's
`dictionary: opencc-1.1.6`.

  git -C OpenCC archive ver.1.1.6 data/dictionary | tar -x -C /tmp/opencc116
  python3 filters/dj-parity/gen_opencc_t2s.py /tmp/opencc116/data/dictionary

writes filters/opencc-1.1.6-t2s.json: {"phrases": {key: first value}, "characters": {key: first value}} from
TSPhrases.txt and TSCharacters.txt (an entry's first value is the one OpenCC converts to).
"""
import json
import os
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), '..')


def read(path):
    out = {}
    with open(path, encoding='utf-8') as f:
        for line in f:
            line = line.rstrip('\n')
            if not line:
                continue
            key, values = line.split('\t', 1)
            out[key] = values.split(' ')[0]
    return out


def main():
    d = sys.argv[1]
    data = {'source': 'OpenCC ver.1.1.6 data/dictionary (t2s.json: mmseg on TSPhrases, then group [TSPhrases, TSCharacters])',
            'phrases': read(os.path.join(d, 'TSPhrases.txt')), 'characters': read(os.path.join(d, 'TSCharacters.txt'))}
    path = os.path.join(ROOT, 'opencc-1.1.6-t2s.json')
    with open(path, 'w', encoding='utf-8') as f:
        json.dump(data, f, ensure_ascii=False, indent=0, sort_keys=True)
        f.write('\n')
    print(f'{len(data["phrases"])} phrases, {len(data["characters"])} characters -> {path}')


if __name__ == '__main__':
    main()
