"""Write the name words that misheard names are mended towards (providers/offline/data/name_words.txt).

Two sources: every first and last name in the bundled data (tools/data/*.json, marked `data`; `person` lines
hold each record's whole name), and the most common US first names and surnames of the 1990 Census name
frequency lists (public domain;
`dist.female.first`, `dist.male.first` and `dist.all.last`, as the PyPI package `names` 0.3.0 ships them).
The common names keep a correctly heard name that is not in the data ("Jennifer Walsh", "Mark Thompson") as
it was said; only the data's names are targets to mend towards. Deterministic for the same inputs.

    python scripts/build_name_lexicon.py CENSUS_DIR
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
DATA = ROOT / "tools" / "data"
OUT = ROOT / "voicerouter" / "providers" / "offline" / "data" / "name_words.txt"
TOP = {
    "dist.female.first": ("first", 500),
    "dist.male.first": ("first", 300),
    "dist.all.last": ("last", 1000),
}


def bundled() -> list[tuple[str, str]]:
    people = []
    for name in ("clinic", "helpdesk"):
        data = json.loads((DATA / f"{name}.json").read_text(encoding="utf-8"))
        people += data.get("patients", []) + data.get("employees", [])
    words = set()
    for person in people:
        for role, key in (("first", "first_name"), ("last", "last_name")):
            for word in person[key].lower().replace("-", " ").split():
                words.add((role, word))
        words.add(("person", f"{person['first_name']} {person['last_name']}".lower()))
    return sorted(words)


def census(folder: Path) -> list[tuple[str, str, int]]:
    out = []
    for file, (role, top) in TOP.items():
        lines = (folder / file).read_text(encoding="ascii").splitlines()
        for rank, line in enumerate(lines[:top], start=1):
            out.append((role, line.split()[0].lower(), rank))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("census_dir", type=Path, help="folder with the Census dist.* files")
    args = parser.parse_args(argv)
    rows: dict[tuple[str, str], str] = {(role, word): "data" for role, word in bundled()}
    for role, word, rank in census(args.census_dir):
        rows.setdefault((role, word), str(rank))
    lines = [f"{role}\t{word}\t{rank}" for (role, word), rank in sorted(rows.items())]
    header = "# role\tword\tsource (data: the bundled records; a number: rank in the 1990 US Census lists)\n"
    OUT.write_text(header + "\n".join(lines) + "\n", encoding="utf-8")
    print(f"{len(lines)} name words written to {OUT.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
