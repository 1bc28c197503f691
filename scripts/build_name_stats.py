"""Derive the Chinese person-name statistics the classifier ships: ``python scripts/build_name_stats.py DICT``.

``DICT`` is ``jieba/dict.txt`` of the jieba 0.42.1 source distribution (MIT licence, Copyright (c)
Sun Junyi; ``pip download --no-deps jieba==0.42.1`` and unpack it). Each of its lines is ``word
frequency tag``; words tagged ``nr`` are person names. Written files (UTF-8, tab-separated, with a
header naming the source and the licence):

- ``include/custody/classification/data/cn_name_chars.tsv``: per Han character, how many distinct
  person names in the dictionary use it in the given name (the part after a known surname), and how
  many distinct other words (any tag but ``nr``/``nrt``/``nrfg``) contain it: the given-name and the
  background character frequencies of :mod:`custody.classification.names`.
- ``include/custody/classification/data/cn_surnames.tsv``: surname and its share of the population
  in percent, from the weights of Faker's ``zh_CN`` person provider (MIT licence, the project's
  test dependency), for the surnames it lists.

Only counts are derived; no name from the dictionary is copied into the package.
"""

from __future__ import annotations

import sys
from collections import Counter
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
OUT = ROOT / "include" / "custody" / "classification" / "data"
sys.path.insert(0, str(ROOT / "include"))

NAME_TAGS = {"nr", "nrt", "nrfg"}


def _han(text: str) -> bool:
    return all("\u4e00" <= c <= "\u9fff" for c in text)


def main(argv: list[str]) -> int:
    if len(argv) != 2:
        print(__doc__)
        return 2
    from faker.providers.person.zh_CN import Provider

    from custody.classification._lexicon import CN_COMPOUND_SURNAMES, CN_SURNAMES

    given: Counter[str] = Counter()
    background: Counter[str] = Counter()
    for line in Path(argv[1]).read_text(encoding="utf-8").splitlines():
        parts = line.split()
        if len(parts) != 3 or not _han(parts[0]):
            continue
        word, _, tag = parts
        if tag in NAME_TAGS:
            if word[:2] in CN_COMPOUND_SURNAMES and 3 <= len(word) <= 4:
                rest = word[2:]
            elif word[0] in CN_SURNAMES and 2 <= len(word) <= 3:
                rest = word[1:]
            else:
                continue
            given.update(set(rest))
        else:
            background.update(set(word))
    OUT.mkdir(parents=True, exist_ok=True)
    chars = sorted(set(given) | set(background), key=lambda c: (-given[c], -background[c], c))
    with (OUT / "cn_name_chars.tsv").open("w", encoding="utf-8") as f:
        f.write(
            "# Character counts derived from jieba 0.42.1 dict.txt (MIT licence, Copyright (c) Sun Junyi)\n"
            "# by scripts/build_name_stats.py: given = distinct person names (tag nr) using the character in\n"
            "# the given name after a known surname; other = distinct other words containing it.\n"
            "char\tgiven\tother\n"
        )
        for c in chars:
            f.write(f"{c}\t{given[c]}\t{background[c]}\n")
    with (OUT / "cn_surnames.tsv").open("w", encoding="utf-8") as f:
        f.write(
            "# Surname shares in percent from Faker's zh_CN person provider (MIT licence, Copyright (c)\n"
            "# Daniele Faraglia), by scripts/build_name_stats.py.\n"
            "surname\tpercent\n"
        )
        for name, share in sorted(Provider.last_names.items(), key=lambda p: -p[1]):
            f.write(f"{name}\t{share}\n")
    print(f"{len(chars)} characters ({sum(1 for c in chars if given[c])} in given names); "
          f"{len(Provider.last_names)} surnames")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
