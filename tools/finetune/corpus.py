"""Real text that Debian ships, as bytes, split deterministically.

`fortunes`: the fortune-cookie files of the `fortunes` and `fortunes-min`
packages (/usr/share/games/fortunes; the "off" collection is not installed
by them), the pre-training corpus. `licences`: the licence texts of
`base-files` (/usr/share/common-licenses), the fine-tuning corpus. Files are
read in name order, symlinks (duplicates) and the index files (.dat, .u8)
skipped; each file's last `validation_fraction` of bytes goes to validation,
so both splits cover every file and the split never depends on a seed.
"""
import os

import numpy as np

SOURCES = {
    "fortunes": ("/usr/share/games/fortunes", "fortunes (apt-get install fortunes)"),
    "licences": ("/usr/share/common-licenses", "base-files"),
}


def corpus_files(name):
    if name not in SOURCES:
        raise ValueError(f"corpus: unknown {name!r} (known: {sorted(SOURCES)})")
    folder, package = SOURCES[name]
    if not os.path.isdir(folder):
        raise ValueError(f"corpus: {folder} is missing; install the Debian package {package}")
    files = [os.path.join(folder, f) for f in sorted(os.listdir(folder))
             if not f.endswith((".dat", ".u8")) and not os.path.islink(os.path.join(folder, f))
             and os.path.isfile(os.path.join(folder, f))]
    if not files:
        raise ValueError(f"corpus: {folder} holds no text files")
    return files


def load(name, validation_fraction=0.1):
    """(train, validation): uint8 arrays of the corpus's bytes, each file split at
    1 - validation_fraction of its length; `files` in the third slot."""
    if not 0 < validation_fraction < 1:
        raise ValueError(f"validation_fraction: expected a number in (0, 1), got {validation_fraction!r}")
    train, validation = [], []
    files = corpus_files(name)
    for path in files:
        with open(path, "rb") as f:
            data = np.frombuffer(f.read(), dtype=np.uint8)
        cut = int(round(len(data) * (1 - validation_fraction)))
        train.append(data[:cut])
        validation.append(data[cut:])
    return np.concatenate(train), np.concatenate(validation), files


def batch(data, batch_size, length, generator):
    """batch_size windows of length + 1 bytes at offsets drawn from generator (a
    numpy Generator), as an int64 tensor."""
    import torch
    if len(data) < length + 1:
        raise ValueError(f"context: {length} bytes do not fit in a split of {len(data)} bytes")
    starts = generator.integers(0, len(data) - length, size=batch_size)
    return torch.from_numpy(np.stack([data[s:s + length + 1] for s in starts]).astype(np.int64))


def windows(data, length, count):
    """count evenly spaced windows of length + 1 bytes (a fixed evaluation set)."""
    import torch
    if len(data) < length + 1:
        raise ValueError(f"context: {length} bytes do not fit in a split of {len(data)} bytes")
    starts = np.linspace(0, len(data) - length - 1, count).astype(np.int64)
    return torch.from_numpy(np.stack([data[s:s + length + 1] for s in starts]).astype(np.int64))
