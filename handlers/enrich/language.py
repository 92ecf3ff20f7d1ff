"""Detect which of the consultation's configured languages a text is written in.

The answer is one of the configured languages (ISO 639-1 codes) or None when unsure: too
few letters, a text that looks more like another language often heard in the UK (French,
Romanian, Spanish ...) than like any configured one, or a best guess below the confidence
needed for a text of that length. lingua's own "minimum relative distance" does not help
here: it still calls "ok" Polish. A detector is built once per set of languages and shared
by every `LanguageDetector` for that set; lingua loads each language model at first use
(about 2.5 s of CPU and 250 MB for the nine languages compared).

Most texts a UK consultation receives are plainly English, and lingua spends 100-500 µs on
each. So when English is configured, a first pass answers "en" for itself, in a few
microseconds, when a text has no letter outside ASCII, at least two English words that
are not words of any contrast language ("the", "were", "staff", "waiting" ...), at least a
third of its words English (counting those English shares, "a", "in", "was" ...), and no
common word of a contrast language ("yn", "jest", "les", "und" ...). On the 23,500
English texts of the VADER sets it answers for 86 in 100, and never says "en" where
lingua says Polish; where they differ lingua said None (or Welsh, for "one horrible flaw,
or mayybe more than one."). bench/enrich.py prints these figures.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator, Sequence

from lingua import IsoCode639_1, Language, LanguageDetectorBuilder
from lingua import LanguageDetector as LinguaDetector

# Fewer letters than this is a word like "ok", "no" or "ie" that belongs to every language.
MIN_LETTERS = 3
# lingua's confidence values over the candidate languages sum to 1. A word or two (fewer
# than SHORT_TEXT letters) is often guessed wrong below MIN_CONFIDENCE_SHORT ("wych", Welsh
# for "great", comes out 0.73 Polish). Longer text is rarely wrong at MIN_CONFIDENCE: on
# 6,000 English texts of the VADER sets, 0.6 kept 99% of those of 20+ letters, with 3 wrong
# guesses. Short English often scores only 0.6-0.7 because Welsh shares its loanwords
# ("Dr Smith was rude": 0.65), while Welsh and Polish sentences score above 0.9.
SHORT_TEXT = 10
MIN_CONFIDENCE_SHORT = 0.75
MIN_CONFIDENCE = 0.6

# Restricted to the configured languages alone, lingua would call every text one of them:
# French or Spanish "en", and scored as English; Romanian "cy". So texts are compared with
# these too (languages often heard in the UK), and one that looks more like one of them is
# None. They only veto: the confidence is then taken among the configured languages, as if
# only those had been compared (English shares words with all of them: "Dr Smith on ward 5
# was rude" is 0.38 English among all nine, 0.65 among English, Welsh and Polish). With one
# configured language, a text that looks most like it is that language, however spread.
# The cost: about 6 ms a text instead of 3, and 110 MB more memory once every model is in.
CONTRAST_LANGUAGES = ("en", "cy", "pl", "ro", "pt", "es", "fr", "de", "it")


def _words(text: str) -> frozenset[str]:
    return frozenset(text.split())


# Words common in English feedback that are not words of any contrast language. Left out
# on purpose, because they are: "also", "son", "see", "kind", "rude", "care", "long",
# "bad", "man", "film", "real", "camera", "service", "hospital", "doctor", "go", "top",
# "pain", "patients", "minutes", "perfect", "excellent", "horrible", "support", "car".
ENGLISH_WORDS = _words(
    """
    the and of is are be been being have has had having with for from that this these
    those they them their there here it its it's that's there's what's let's he's she's
    i'm i've i'd i'll you you're you'll we're we'll they're your she her his him our us
    who what when where which why how would should could cannot can't couldn't wouldn't
    shouldn't not don't didn't doesn't isn't wasn't weren't won't haven't hasn't did does
    were very really just about because than then out up off down back if get got any
    only other another too much many every never always nothing something anything
    everything everyone someone after before into over through while again still even
    though although until without such yet few enough own now one two first last little
    way most work find look day year years today life love fun funny old new big high
    right thing things makes thank thanks please help helpful helped staff nurses waiting
    wait waited appointment appointments people need needs needed like liked well make
    made take took think thought know knew saw feel felt told said asked went came gave
    good great better best lovely friendly poor worse worst time times ward clinic
    surgery caring treated treatment team quite bit lot lots some story between happy both
    often ever next pretty against true home free house picture dull sweet tale rather
    under hate nice world getting show going worth give around keep coming family comes
    far less beautiful looks moving three during school once already easy takes playing
    buy might say instead seems whose half young late stupid same cute others small
    welcome different mostly days sometimes says want heart week weeks months hours try
    gives finally yeah cool since short watch enjoy sound stop sure together across among
    must night song news birthday awesome tonight yes damn hard full nurse doctors gp
    physio physiotherapy referral booking listen listened explained health nhs
    receptionist receptionists seen wish hope easier faster quicker sooner longer ago mum
    dad daughter husband wife child children kids baby visit visits pharmacy medication
    results
    """
)
# Words English shares with a contrast language: they count for English only beside
# English words of their own ("Dr Smith on ward 5 was rude").
SHARED_WORDS = _words(
    "a i in on to no so am an as at by or me my we do he was will all can but more"
)
# Common words of the contrast languages that English text does not use (a text with one
# of them goes to lingua: "Roedd y staff yn garedig iawn, thank you" is Welsh).
FOREIGN_WORDS = _words(
    """
    y yn ac mae roedd iawn ond hefyd gyda fy ei eu ni chi nhw wedi bod oedd ddim iddo ein
    hwn hyn mewn ydy ydw yw i'r o'r a'r diolch da o
    jest nie że na w z za od po ale czy jak tak bardzo dla przez jestem był była są sa
    mnie ty ona oni już juz tylko ja ma mi
    și si nu pentru mai dar este sunt foarte acest aceasta fost un ce ne se
    de e em uma os das dos não nao muito para por mas foi são sao é
    el la los las del al con una es muy pero fue su sus lo le les en
    des du une est et il elle nous vous ils je tu très tres avec dans sur qui que c'est
    n'est j'ai
    der die das und ist nicht ein eine mit für auf sich dem den ich sie wir sehr auch wie
    aber sind zu er
    di che non sono è della delle degli gli ho molto anche
    """
)
_APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'"})
_WORDS = re.compile(r"[a-z]+(?:'[a-z]+)?")
# A letter outside ASCII (ŵ, ż, ă, é ...): the text is left to lingua.
_NON_ASCII_LETTER = re.compile(r"[^\W\d_a-zA-Z]")


def plainly_english(text: str) -> bool:
    """The first pass: True for text most readers would call English at a glance."""
    if not text.isascii():
        if _NON_ASCII_LETTER.search(text):
            return False
        text = text.translate(_APOSTROPHES)
    words = _WORDS.findall(text.lower())
    if not FOREIGN_WORDS.isdisjoint(words):
        return False
    english = sum(map(ENGLISH_WORDS.__contains__, words))
    if english < 2:
        return False
    return 3 * (english + sum(map(SHARED_WORDS.__contains__, words))) >= len(words)


def to_language(code: str) -> Language:
    """The lingua language for an ISO 639-1 code; ValueError when lingua does not know it."""
    try:
        return Language.from_iso_code_639_1(IsoCode639_1.from_str(code))
    except ValueError:
        raise ValueError(f"language {code!r}: not an ISO 639-1 code lingua can detect") from None


_detectors: dict[tuple[tuple[str, ...], bool], LinguaDetector] = {}
_building = threading.Lock()


def _candidates(codes: tuple[str, ...]) -> tuple[str, ...]:
    return tuple(dict.fromkeys(codes + CONTRAST_LANGUAGES))


def _lingua(
    codes: tuple[str, ...], *, low_accuracy: bool = False, preload: bool = False
) -> LinguaDetector:
    """The shared lingua detector for these languages, built at first use.

    lingua keeps each loaded model in one cache per process, shared by every detector,
    and loads what a text needs at first use unless `preload` loads everything now, on
    every core (for a caller about to fork workers that should share the models).
    """
    key = (codes, low_accuracy)
    detector = _detectors.get(key)
    if detector is None or preload:
        with _building:
            detector = _detectors.get(key)
            if detector is None or preload:
                builder = LanguageDetectorBuilder.from_languages(
                    *map(to_language, _candidates(codes))
                )
                if low_accuracy:
                    builder = builder.with_low_accuracy_mode()
                if preload:
                    builder = builder.with_preloaded_language_models()
                detector = _detectors[key] = builder.build()
    return detector


class LanguageDetector:
    """Answers which configured language a text is in, or None when unsure.

    Three passes, cheapest first: `plainly_english`; for text of SHORT_TEXT letters or
    more, lingua's low-accuracy mode (trigrams only, about 130 µs and 0.3 s to load),
    whose answer is kept only when it is English; and lingua in full, whose answer is
    final. Only English is taken from the low-accuracy pass because on longer English
    text it agrees with the full mode, while on everything else it is less sure.
    """

    def __init__(self, languages: Sequence[str]) -> None:
        if not languages:
            raise ValueError("configure at least one language, e.g. ('en',)")
        self.languages = tuple(dict.fromkeys(code.lower() for code in languages))
        for code in self.languages:
            to_language(code)
        self._english = "en" in self.languages

    def warm_up_steps(self) -> Iterator[str]:
        """Load lingua's models one language at a time, naming each when it is loaded.

        lingua holds the GIL while it loads (0.2-0.4 s a language, about 2.5 s in all), so
        a caller warming up in a background thread lets other threads in between steps.
        """
        languages = [to_language(code) for code in _candidates(self.languages)]
        for language in languages:
            partner = languages[1] if language == languages[0] else languages[0]
            for low_accuracy in (True, False):
                builder = LanguageDetectorBuilder.from_languages(language, partner)
                if low_accuracy:
                    builder = builder.with_low_accuracy_mode()
                # A word of five letters or more loads the models of every length.
                builder.build().compute_language_confidence_values("physiotherapists")
            yield _code(language)
        for low_accuracy in (True, False):
            _lingua(self.languages, low_accuracy=low_accuracy)

    def warm_up(self, *, on_every_core: bool = False) -> None:
        """Load every lingua model the passes use: one language at a time, or all at once
        on every core (faster, but holding the GIL throughout)."""
        if on_every_core:
            for low_accuracy in (True, False):
                _lingua(self.languages, low_accuracy=low_accuracy, preload=True)
        else:
            for _ in self.warm_up_steps():
                pass

    def detect(self, text: str) -> str | None:
        letters = sum(map(str.isalpha, text))
        if letters < MIN_LETTERS:
            return None
        if self._english:
            if plainly_english(text):
                return "en"
            if letters >= SHORT_TEXT and self._judge(text, letters, low_accuracy=True) == "en":
                return "en"
        return self._judge(text, letters, low_accuracy=False)

    def _judge(self, text: str, letters: int, *, low_accuracy: bool) -> str | None:
        detector = _lingua(self.languages, low_accuracy=low_accuracy)
        values = detector.compute_language_confidence_values(text)
        if not values:
            return None
        code = _code(values[0].language)
        if code not in self.languages:
            return None
        if len(self.languages) == 1:
            return code
        among_configured = sum(v.value for v in values if _code(v.language) in self.languages)
        needed = MIN_CONFIDENCE_SHORT if letters < SHORT_TEXT else MIN_CONFIDENCE
        return code if values[0].value >= needed * among_configured else None


def _code(language: Language) -> str:
    return language.iso_code_639_1.name.lower()
