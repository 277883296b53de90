#!/usr/bin/env python3
"""Build a spoken-digit data set ("zero" ... "nine") with espeak-ng, cleaned with sox.

Each clip: one English word spoken by ``espeak-ng -v ACCENT+VARIANT -s SPEED -p PITCH``, then sox
trims the leading and trailing silence, normalises the peak to -1 dBFS, resamples to ``--sr`` Hz
mono 16-bit, and pads (or cuts) the result to exactly ``--seconds`` (the word starts after a
short lead-in of ``--lead-in`` s). Nothing is downloaded: both tools are Debian packages
(``apt-get install espeak-ng sox``).

A *speaker* is an accent (an espeak-ng English voice) with a voice variant (timbre). The test
split holds out whole variants: the ``test/`` clips are spoken by variants that never occur in
``train/``, in every accent, so the test accuracy is on unseen speakers. Layout::

    OUT_DIR/train/<digit>/<digit>_0000.wav ...    one folder per class (audiofx.data.AudioFolder)
    OUT_DIR/test/<digit>/...
    OUT_DIR/manifest.csv                          split, path, label, accent, variant, speed, pitch

The set is deterministic given ``--seed`` (and the installed espeak-ng version)::

    python scripts/make_spoken_digits.py data/digits --per-digit 200 --test-per-digit 40
"""
from __future__ import annotations

import argparse
import csv
import os
import random
import shutil
import subprocess
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor

DIGITS = ("zero", "one", "two", "three", "four", "five", "six", "seven", "eight", "nine")

#: espeak-ng's English voices built on its own formant synthesiser (the ``mb/`` mbrola voices
#: need the separate mbrola program and are not used).
ACCENTS = ("en-gb", "en-us", "en-gb-scotland", "en-gb-x-gbclan", "en-gb-x-rp",
           "en-gb-x-gbcwmd", "en-029", "en-us-nyc")

#: Voice variants (``espeak-ng --voices=variant``) that sound like a person speaking: the novelty
#: ones (whisper, robots, "Demonic", ...) are left out.
VARIANTS = ("m1", "m2", "m3", "m4", "m5", "m6", "m7", "f1", "f2", "f3", "f4", "f5",
            "adam", "Alex", "Alicia", "Andrea", "Andy", "Annie", "aunty", "belinda", "benjamin",
            "boris", "caleb", "david", "ed", "edward", "Gene", "gustave", "Henrique", "Hugo",
            "iven", "Jacky", "john", "Lee", "linda", "Marco", "max", "Michael", "michel", "Mike",
            "paul", "pedro", "quincy", "rob", "robert", "steph", "Storm", "zac", "anika",
            "grandpa", "klatt", "norbert", "sandro", "shelby", "travis", "victor", "m8")


def _require(tool: str) -> str:
    path = shutil.which(tool)
    if path is None:
        sys.exit(f"make_spoken_digits: {tool} not found; install it with "
                 f"`apt-get install espeak-ng sox`")
    return path


def installed_variants() -> set:
    """The variant file names espeak-ng has (the last column of ``--voices=variant``)."""
    out = subprocess.run(["espeak-ng", "--voices=variant"], capture_output=True, text=True,
                         check=True).stdout
    names = set()
    for line in out.splitlines()[1:]:
        cols = line.split()
        if len(cols) >= 5 and cols[4].startswith("!v/"):
            names.add(cols[4][3:])
    return names


def installed_accents() -> set:
    out = subprocess.run(["espeak-ng", "--voices=en"], capture_output=True, text=True,
                         check=True).stdout
    return {line.split()[1] for line in out.splitlines()[1:] if len(line.split()) > 1}


def synthesize(word: str, accent: str, variant: str, speed: int, pitch: int, out_path: str,
               sr: int, seconds: float, lead_in: float, tmp_dir: str) -> None:
    """Speak ``word`` into ``out_path``: espeak-ng, then sox trims silence, normalises,
    resamples to ``sr`` mono and fixes the length to ``seconds``."""
    # Unique per output (train/ and test/ reuse the file names; clips are made in parallel).
    tag = os.path.abspath(out_path).replace(os.sep, "_")
    raw = os.path.join(tmp_dir, tag + ".raw.wav")
    clean = os.path.join(tmp_dir, tag + ".clean.wav")
    subprocess.run(["espeak-ng", "-v", f"{accent}+{variant}", "-s", str(speed), "-p", str(pitch),
                    "-w", raw, word], check=True, capture_output=True)
    # silence / reverse / silence / reverse trims both ends (sox's idiom; 0.5% of full scale);
    # -R seeds the dither so that the same seed gives the same bytes.
    # The explicit `rate` comes before `norm`, so the peak is -1 dBFS at the output rate.
    subprocess.run(["sox", "-R", raw, "-b", "16", clean, "channels", "1", "rate", str(sr),
                    "silence", "1", "0.02", "0.5%", "reverse", "silence", "1", "0.02", "0.5%",
                    "reverse", "norm", "-1"], check=True, capture_output=True)
    # A second sox call: `pad` after `reverse` in one chain is silently not applied (sox 14.4).
    subprocess.run(["sox", "-R", clean, out_path, "pad", f"{lead_in}", f"{seconds}",
                    "trim", "0", f"{int(round(seconds * sr))}s"], check=True, capture_output=True)
    os.remove(raw)
    os.remove(clean)


def plan(per_digit: int, test_per_digit: int, accents, variants, n_test_variants: int,
         speeds, pitches, seed: int, digits=DIGITS):
    """The list of clips to make: dicts with split, label, accent, variant, speed, pitch, and
    the relative path. Deterministic in ``seed``."""
    rng = random.Random(seed)
    variants = list(variants)
    rng.shuffle(variants)
    test_variants, train_variants = variants[:n_test_variants], variants[n_test_variants:]
    if not train_variants or (test_per_digit and not test_variants):
        raise ValueError(f"need more variants than --test-variants ({n_test_variants}), "
                         f"have {len(variants)}")
    rows = []
    for split, n, pool in (("train", per_digit, train_variants),
                           ("test", test_per_digit, test_variants)):
        for label in digits:
            for i in range(n):
                rows.append(dict(split=split, label=label, accent=rng.choice(accents),
                                 variant=rng.choice(pool), speed=rng.randint(*speeds),
                                 pitch=rng.randint(*pitches),
                                 path=f"{split}/{label}/{label}_{i:04d}.wav"))
    return rows


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("out_dir", help="folder to create (train/, test/, manifest.csv)")
    p.add_argument("--per-digit", type=int, default=200, help="training clips per digit")
    p.add_argument("--test-per-digit", type=int, default=40,
                   help="test clips per digit, spoken by held-out variants (0: no test split)")
    p.add_argument("--digits", nargs="+", default=list(DIGITS), choices=DIGITS, metavar="WORD",
                   help="the classes to make (default: zero ... nine)")
    p.add_argument("--voices", nargs="+", default=list(ACCENTS), metavar="ACCENT",
                   help="espeak-ng English voices (accents); default: the 8 formant voices")
    p.add_argument("--variants", nargs="+", default=list(VARIANTS), metavar="VARIANT",
                   help="espeak-ng voice variants (speakers' timbres)")
    p.add_argument("--test-variants", type=int, default=8,
                   help="variants held out for the test split (default 8)")
    p.add_argument("--speed", type=int, nargs=2, default=(120, 220), metavar=("MIN", "MAX"),
                   help="words per minute, drawn uniformly (default 120 220)")
    p.add_argument("--pitch", type=int, nargs=2, default=(20, 80), metavar=("MIN", "MAX"),
                   help="espeak-ng pitch 0-99, drawn uniformly (default 20 80)")
    p.add_argument("--sr", type=int, default=16000, help="sample rate in Hz (default 16000)")
    p.add_argument("--seconds", type=float, default=1.0, help="clip length in s (default 1)")
    p.add_argument("--lead-in", type=float, default=0.05, help="silence before the word in s")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--jobs", type=int, default=2, help="clips made in parallel (default 2)")
    args = p.parse_args(argv)
    for name in ("per_digit", "sr", "jobs"):
        if getattr(args, name) < 1:
            p.error(f"--{name.replace('_', '-')} must be >= 1")
    if args.test_per_digit < 0 or args.test_variants < 0:
        p.error("--test-per-digit and --test-variants must be >= 0")
    if args.seconds <= 0 or args.lead_in < 0 or args.lead_in >= args.seconds:
        p.error("need --seconds > 0 and 0 <= --lead-in < --seconds")
    for lo, hi, name, top in (*args.speed, "speed", 500), (*args.pitch, "pitch", 99):
        if not 0 <= lo <= hi <= top:
            p.error(f"--{name} needs 0 <= MIN <= MAX <= {top}, got {lo} {hi}")
    _require("espeak-ng")
    _require("sox")
    # espeak-ng falls back to its default voice, silently, for a name it does not know.
    unknown = sorted(set(args.variants) - installed_variants())
    if unknown:
        p.error(f"unknown espeak-ng variants {unknown}; see `espeak-ng --voices=variant`")
    unknown = sorted(set(args.voices) - installed_accents())
    if unknown:
        p.error(f"unknown espeak-ng voices {unknown}; see `espeak-ng --voices=en`")
    try:
        rows = plan(args.per_digit, args.test_per_digit, args.voices, args.variants,
                    args.test_variants if args.test_per_digit else 0, tuple(args.speed),
                    tuple(args.pitch), args.seed, sorted(set(args.digits), key=DIGITS.index))
    except ValueError as e:
        p.error(str(e))

    for r in rows:
        os.makedirs(os.path.join(args.out_dir, os.path.dirname(r["path"])), exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        def make(r):
            synthesize(r["label"], r["accent"], r["variant"], r["speed"], r["pitch"],
                       os.path.join(args.out_dir, r["path"]), args.sr, args.seconds,
                       args.lead_in, tmp)

        with ThreadPoolExecutor(args.jobs) as pool:
            for i, _ in enumerate(pool.map(make, rows), 1):
                if i % 500 == 0 or i == len(rows):
                    print(f"{i}/{len(rows)} clips", file=sys.stderr)
    with open(os.path.join(args.out_dir, "manifest.csv"), "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=["split", "path", "label", "accent", "variant", "speed",
                                          "pitch"])
        w.writeheader()
        w.writerows(rows)
    n_train = sum(r["split"] == "train" for r in rows)
    test_vars = sorted({r["variant"] for r in rows if r["split"] == "test"})
    print(f"wrote {n_train} training and {len(rows) - n_train} test clips to {args.out_dir} "
          f"(test variants, unseen in training: {', '.join(test_vars) or 'none'})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
