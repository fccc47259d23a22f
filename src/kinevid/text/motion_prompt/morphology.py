"""English verb inflection for the motion lexicon: lemma <-> walks / walking / walked."""

from __future__ import annotations

from dataclasses import dataclass

from kinevid.text.motion_prompt.lexicon import DOUBLED_CONSONANT, IRREGULAR_FORMS, MOTION_VERBS

_VOWELS = "aeiou"


def third_person(lemma: str) -> str:
    """ "walk" -> "walks", "punch" -> "punches", "carry" -> "carries", "go" -> "goes"."""
    if lemma.endswith(("s", "sh", "ch", "x", "z", "o")):
        return lemma + "es"
    if lemma.endswith("y") and len(lemma) > 1 and lemma[-2] not in _VOWELS:
        return lemma[:-1] + "ies"
    return lemma + "s"


def present_participle(lemma: str) -> str:
    """ "walk" -> "walking", "dance" -> "dancing", "run" -> "running", "lie" -> "lying", "tiptoe" -> "tiptoeing"."""
    if lemma.endswith("ie"):
        return lemma[:-2] + "ying"
    if lemma in DOUBLED_CONSONANT:
        return lemma + lemma[-1] + "ing"
    if lemma.endswith("e") and not lemma.endswith(("ee", "oe", "ye")):
        return lemma[:-1] + "ing"
    return lemma + "ing"


def past_tense(lemma: str) -> str:
    """Regular past: "walk" -> "walked", "dance" -> "danced", "hop" -> "hopped", "carry" -> "carried"."""
    if lemma.endswith("e"):
        return lemma + "d"
    if lemma.endswith("y") and len(lemma) > 1 and lemma[-2] not in _VOWELS:
        return lemma[:-1] + "ied"
    if lemma in DOUBLED_CONSONANT:
        return lemma + lemma[-1] + "ed"
    return lemma + "ed"


@dataclass(frozen=True)
class VerbForm:
    """One written form of a motion verb: its lemma and which form it is ("base", "third", "ing", "past")."""

    lemma: str
    kind: str


def _build_verb_forms() -> dict[str, VerbForm]:
    forms: dict[str, VerbForm] = {}
    for lemma in sorted(MOTION_VERBS):
        forms.setdefault(lemma, VerbForm(lemma, "base"))
        forms.setdefault(third_person(lemma), VerbForm(lemma, "third"))
        forms.setdefault(present_participle(lemma), VerbForm(lemma, "ing"))
        forms.setdefault(past_tense(lemma), VerbForm(lemma, "past"))
        for irregular in IRREGULAR_FORMS.get(lemma, ()):
            forms.setdefault(irregular, VerbForm(lemma, "ing" if irregular.endswith("ing") else "past"))
    return forms


#: Every recognised written form of a motion verb.
VERB_FORMS: dict[str, VerbForm] = _build_verb_forms()


def inflect(lemma: str, kind: str) -> str:
    """Write `lemma` as `kind`: "third" (walks), "ing" (walking) or "base" (walk)."""
    if kind == "third":
        return third_person(lemma)
    if kind == "ing":
        return present_participle(lemma)
    return lemma
