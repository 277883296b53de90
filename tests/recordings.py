"""Small real recordings for the file tests, made with the Debian tools ``espeak-ng`` (speech)
and ``sox`` (formats, rates, channels), plus the bad files a batch job meets: a WAV cut short, an
empty file, a text file named ``.wav``. Nothing is downloaded."""
from __future__ import annotations

import os
import shutil
import subprocess

import pytest

# (name, voice, words): different voices and languages, so lengths and spectra differ.
SPEECH = (
    ("en_one", "en", "one two three"),
    ("us_four", "en-us", "four five six seven"),
    ("scot_eight", "en-gb-scotland", "eight nine"),
    ("fr_f3", "fr+f3", "un deux trois quatre"),
    ("de_m2", "de+m2", "eins zwei"),
)


def _need_tools():
    missing = [t for t in ("espeak-ng", "sox") if shutil.which(t) is None]
    if missing:  # CI installs both (.ci/run); a developer machine without them cannot run these
        pytest.fail(f"the file tests need {' and '.join(missing)} (apt-get install espeak-ng sox)")


def speak(path: str, words: str, voice: str = "en") -> str:
    """``espeak-ng -w``: a 22050 Hz mono 16-bit WAV of ``words``."""
    subprocess.run(["espeak-ng", "-v", voice, "-w", path, words], check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return path


def sox(*args: str) -> None:
    subprocess.run(["sox", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.DEVNULL)


def make_recordings(folder: str) -> dict:
    """Writes the recordings into ``folder`` (with a subfolder, to test recursion).

    Returns:
        ``{"good": [paths], "bad": {path: reason prefix}, "speech": {name: wav path}}``.
    """
    _need_tools()
    os.makedirs(os.path.join(folder, "more"), exist_ok=True)
    speech = {name: speak(os.path.join(folder, f"{name}.wav"), words, voice)
              for name, voice, words in SPEECH}
    good = list(speech.values())
    flac16k = os.path.join(folder, "more", "fr_16k.flac")
    sox(speech["fr_f3"], "-r", "16000", flac16k)
    stereo = os.path.join(folder, "more", "stereo_44k.flac")
    sox("-M", speech["en_one"], speech["us_four"], "-r", "44100", stereo)
    ogg = os.path.join(folder, "more", "scot.ogg")
    sox(speech["scot_eight"], ogg)
    mp3 = os.path.join(folder, "de.mp3")
    sox(speech["de_m2"], mp3)
    good += [flac16k, stereo, ogg, mp3]

    truncated = os.path.join(folder, "truncated.wav")
    with open(speech["us_four"], "rb") as f:
        data = f.read()
    with open(truncated, "wb") as f:  # as `head -c`: the header declares more than is there
        f.write(data[: len(data) // 2])
    empty = os.path.join(folder, "more", "empty.wav")
    open(empty, "wb").close()
    text = os.path.join(folder, "notes.wav")
    with open(text, "w") as f:
        f.write("this is a text file, not audio\n" * 20)
    bad = {truncated: "truncated", empty: "empty file", text: "not an audio file"}
    return {"good": sorted(good), "bad": bad, "speech": speech}
