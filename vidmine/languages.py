"""Languages: the codes vidmine stores and what each maps to elsewhere.

vidmine stores a language as its ISO 639-1 code, as Whisper names them ("en", "de").
This module maps a code to PostgreSQL's text search configuration (``simple`` where
PostgreSQL has no stemmer for it), to tesseract's language pack name, and from the full
names OpenAI's whisper-1 answers with ("german") back to codes. It also tells a video's
languages by speech seconds and guesses the language of a short text (on-screen text) from
its common words. Pure functions; nothing here touches a model or the database.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Iterable
from functools import lru_cache

from vidmine.models import TranscriptSegment

FALLBACK_TS_CONFIG = "simple"

# The stemming text search configurations PostgreSQL 16 ships, by ISO 639-1 code.
TS_CONFIGS: dict[str, str] = {
    "ar": "arabic",
    "hy": "armenian",
    "eu": "basque",
    "ca": "catalan",
    "da": "danish",
    "nl": "dutch",
    "en": "english",
    "fi": "finnish",
    "fr": "french",
    "de": "german",
    "el": "greek",
    "hi": "hindi",
    "hu": "hungarian",
    "id": "indonesian",
    "ga": "irish",
    "it": "italian",
    "lt": "lithuanian",
    "ne": "nepali",
    "no": "norwegian",
    "nn": "norwegian",
    "pt": "portuguese",
    "ro": "romanian",
    "ru": "russian",
    "sr": "serbian",
    "es": "spanish",
    "sv": "swedish",
    "ta": "tamil",
    "tr": "turkish",
    "yi": "yiddish",
}

# Tesseract's language pack names (Debian: tesseract-ocr-<name>) by ISO 639-1 code.
TESSERACT_LANGS: dict[str, str] = {
    "en": "eng",
    "de": "deu",
    "fr": "fra",
    "es": "spa",
    "it": "ita",
    "pt": "por",
    "nl": "nld",
    "sv": "swe",
    "da": "dan",
    "no": "nor",
    "fi": "fin",
    "pl": "pol",
    "cs": "ces",
    "ru": "rus",
    "uk": "ukr",
    "tr": "tur",
    "el": "ell",
    "hu": "hun",
    "ro": "ron",
    "ja": "jpn",
    "zh": "chi_sim",
    "ko": "kor",
    "ar": "ara",
    "hi": "hin",
}

# whisper-1 names the language in full ("english"); the Whisper tokenizer's names.
_NAMES = {
    "english": "en", "chinese": "zh", "german": "de", "spanish": "es", "russian": "ru",
    "korean": "ko", "french": "fr", "japanese": "ja", "portuguese": "pt", "turkish": "tr",
    "polish": "pl", "catalan": "ca", "dutch": "nl", "arabic": "ar", "swedish": "sv",
    "italian": "it", "indonesian": "id", "hindi": "hi", "finnish": "fi", "vietnamese": "vi",
    "hebrew": "he", "ukrainian": "uk", "greek": "el", "malay": "ms", "czech": "cs",
    "romanian": "ro", "danish": "da", "hungarian": "hu", "tamil": "ta", "norwegian": "no",
    "thai": "th", "urdu": "ur", "croatian": "hr", "bulgarian": "bg", "lithuanian": "lt",
    "latin": "la", "welsh": "cy", "slovak": "sk", "persian": "fa", "latvian": "lv",
    "serbian": "sr", "slovenian": "sl", "estonian": "et", "basque": "eu", "irish": "ga",
    "armenian": "hy", "nepali": "ne", "yiddish": "yi", "nynorsk": "nn", "icelandic": "is",
    "afrikaans": "af", "swahili": "sw", "galician": "gl", "bengali": "bn", "tagalog": "tl",
}  # fmt: skip
_CODE = re.compile(r"^[a-z]{2,3}$")


def normalize_language(value: str | None) -> str | None:
    """An ISO 639-1 code from a code or a full name ("German", "de", "DE"); None if unknown."""
    if value is None:
        return None
    text = value.strip().lower()
    if not text:
        return None
    if text in _NAMES:
        return _NAMES[text]
    return text if _CODE.match(text) else None


def ts_config(language: str | None) -> str:
    """PostgreSQL's text search configuration for the language (``simple`` if none)."""
    return TS_CONFIGS.get(language or "", FALLBACK_TS_CONFIG)


def speech_seconds(segments: Iterable[TranscriptSegment]) -> dict[str, float]:
    """Seconds of speech per language, most spoken first (segments without one left out)."""
    totals: dict[str, float] = {}
    for segment in segments:
        if segment.language:
            length = max(0.0, segment.end_s - segment.start_s)
            totals[segment.language] = totals.get(segment.language, 0.0) + length
    return dict(sorted(totals.items(), key=lambda item: (-item[1], item[0])))


def video_languages(segments: Iterable[TranscriptSegment]) -> list[str]:
    """The languages spoken, most spoken (by seconds) first."""
    return list(speech_seconds(segments))


@lru_cache(maxsize=1)
def installed_tesseract_languages() -> frozenset[str]:
    """The tesseract language packs installed here (``eng``, ``deu`` ...)."""
    if shutil.which("tesseract") is None:
        return frozenset()
    proc = subprocess.run(
        ["tesseract", "--list-langs"], capture_output=True, text=True, check=False
    )
    lines = (proc.stdout or "").splitlines()[1:]  # the first line says where they are
    return frozenset(line.strip() for line in lines if line.strip())


def ocr_languages(spoken: Iterable[str], installed: frozenset[str] | None = None) -> list[str]:
    """Tesseract packs to read with: ``eng`` first, then each spoken language installed."""
    installed = installed_tesseract_languages() if installed is None else installed
    chosen = ["eng"]
    for code in spoken:
        pack = TESSERACT_LANGS.get(code)
        if pack and pack in installed and pack not in chosen:
            chosen.append(pack)
    return chosen


# Frequent short words that tell languages apart in a line of on-screen text.
_COMMON_WORDS: dict[str, frozenset[str]] = {
    code: frozenset(words.split())
    for code, words in {
        "en": "the and of to is in for with on that this are you your our",
        "de": "der die das und ist nicht mit für ein eine den dem des auf ich wir sie",
        "fr": "le la les et est des une un pour avec dans sur du que qui nous vous",
        "es": "el la los las y es que de en una un por con para del nuestro",
    }.items()
}
_LETTERS = re.compile(r"[^\W\d_]+")


def guess_text_language(text: str, candidates: Iterable[str]) -> str | None:
    """The candidate language whose common words the text uses most; None on a tie or none."""
    words = [w.lower() for w in _LETTERS.findall(text)]
    scores = {
        code: sum(w in _COMMON_WORDS[code] for w in words)
        for code in candidates
        if code in _COMMON_WORDS
    }
    if not scores:
        return None
    ranked = sorted(scores.items(), key=lambda item: -item[1])
    if ranked[0][1] == 0 or (len(ranked) > 1 and ranked[1][1] == ranked[0][1]):
        return None
    return ranked[0][0]
