"""Rule-based motion-prompt extraction: keep what the body does, drop everything else.

The extractor reads a prompt the way a shallow parser would:

1. Tokenize (lower case, punctuation kept, multiword expressions such as "jumping jacks" joined)
   and find the motion verbs, telling verbs from look-alike nouns ("a high kick", "in running
   shoes") and pose participles ("arms raised").
2. Split the prompt into segments at punctuation and give each verb the connector words before it
   ("and then", "while", "to").
3. Parse each verb's complement, keeping directions, tempo / manner adverbs, counts, body parts,
   props the body touches, motion nouns ("a pirouette") and the prepositional phrases built on them
   ("on one leg", "up the stairs", "in a circle", "for five seconds"); every other phrase (scenery,
   clothing, camera, lighting, style, other people) is dropped.
4. Write the phrases back as one clause with the subject "a person" ("a person walks forward, then
   sits down on a chair"), verbs in the third person (or gerund after "while" / a comma), and
   possessives as "their".

A prompt without any motion gives `NO_MOTION_PROMPT` ("a person stands still").
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from kinevid.errors import InvalidInputError
from kinevid.text.motion_prompt import lexicon as lx
from kinevid.text.motion_prompt.morphology import VERB_FORMS, inflect

#: The subject every motion prompt starts with.
SUBJECT = "a person"

#: What a prompt without any body motion becomes.
NO_MOTION_PROMPT = f"{SUBJECT} stands still"

#: Prompts longer than this many characters are rejected (far beyond any text encoder's window).
MAX_PROMPT_CHARS = 2000

_TOKEN_PATTERN = re.compile(r"[a-z]+(?:[-'][a-z]+)*|\d+(?:\.\d+)?|[,.;:!?]")
_SENTENCE_PUNCTUATION = frozenset(".;!?")
_PUNCTUATION = frozenset(",.;:!?")
_SUBJECT_PRONOUNS = frozenset({"he", "she", "they", "it", "someone", "somebody", "who"})
_PP_KEEP_HEADS = (
    lx.BODY_PARTS | lx.INTERACTION_NOUNS | lx.PATH_NOUNS | lx.TEMPO_NOUNS | lx.MOTION_NOUNS | lx.COUNT_NOUNS
)
_OBJECT_KEEP_HEADS = lx.BODY_PARTS | lx.INTERACTION_NOUNS | lx.MOTION_NOUNS | lx.COUNT_NOUNS | lx.SPORTS
_LIGHT_OBJECT_HEADS = lx.MOTION_NOUNS | lx.SPORTS | lx.COUNT_NOUNS
_NOUN_MODIFIERS = lx.PHYSICAL_ADJECTIVES | lx.SIDES | lx.DIRECTIONS | lx.ORDINALS | lx.MOTION_NOUNS
_AGENTS = lx.NON_HUMAN_SUBJECTS | lx.PERSON_NOUNS
_KEPT_MODIFIERS = (
    lx.SIDES | lx.NUMBERS | lx.ORDINALS | lx.PHYSICAL_ADJECTIVES | lx.MOTION_NOUNS | lx.BODY_PARTS | lx.DIRECTIONS
    | lx.INTERACTION_NOUNS | lx.SPORTS
)  # fmt: skip


def normalize_prompt(prompt: str) -> str:
    """Check a prompt and collapse its whitespace; raise `InvalidInputError` if empty, too long or not text."""
    if not isinstance(prompt, str):
        raise InvalidInputError(f"`prompt` must be a string, got {type(prompt).__name__}")
    text = " ".join(prompt.split())
    if not text:
        raise InvalidInputError("`prompt` is empty; expected a description of what the person does")
    if len(text) > MAX_PROMPT_CHARS:
        raise InvalidInputError(
            f"`prompt` has {len(text)} characters; expected at most {MAX_PROMPT_CHARS} (one scene description)"
        )
    return text


def tokenize(text: str) -> list[str]:
    """Lower-case words, numbers and punctuation, with `lexicon.MULTIWORD` expressions joined by "_"."""
    tokens = _TOKEN_PATTERN.findall(text.lower())
    merged: list[str] = []
    index = 0
    while index < len(tokens):
        for expression in lx.MULTIWORD:
            if tuple(tokens[index : index + len(expression)]) == expression:
                merged.append("_".join(expression))
                index += len(expression)
                break
        else:
            merged.append(tokens[index])
            index += 1
    return merged


def _is_number(token: str) -> bool:
    return token in lx.NUMBERS or token[0].isdigit()


def _is_verb_ing(token: str) -> bool:
    form = VERB_FORMS.get(token)
    return form is not None and form.kind == "ing"


def find_verbs(tokens: list[str]) -> list[int]:
    """Indices of tokens used as motion verbs (not as nouns, adjectives or pose participles)."""
    verbs: list[int] = []
    nouns: set[int] = set()
    for index, token in enumerate(tokens):
        form = VERB_FORMS.get(token)
        if form is None:
            continue
        previous = tokens[index - 1] if index > 0 else ""
        following = tokens[index + 1 : index + 3]
        # "arms raised", "knees bent": a pose, not an action
        if form.kind == "past" and previous in lx.BODY_PARTS:
            continue
        # "in running shoes", "with walking sticks"
        if form.kind == "ing" and previous in lx.NOUN_GERUND_PREPOSITIONS:
            continue
        # "walks slow", "runs fast": an adverb after a verb
        if verbs and verbs[-1] == index - 1 and (token in lx.TEMPO_MANNER or token in lx.DIRECTIONS):
            continue
        # "the camera moves left", "a dog runs by": someone else's motion
        subject = index - 1
        while subject >= 0 and (tokens[subject] in lx.TEMPO_MANNER or tokens[subject] in lx.AUXILIARIES):
            subject -= 1
        if subject >= 0 and tokens[subject] in lx.NON_HUMAN_SUBJECTS:
            continue
        # a noun use ("a high kick"), unless a participle describes the person ("a running man" runs)
        attributive = form.kind == "ing" and any(word in lx.PERSON_NOUNS for word in following)
        if _is_noun_use(tokens, index, form.kind, nouns) and not attributive:
            nouns.add(index)
            continue
        verbs.append(index)
    return verbs


def _is_noun_use(tokens: list[str], index: int, kind: str, nouns: set[int]) -> bool:
    """True when the verb-like token at `index` heads or modifies a noun phrase ("a high kick", "three jumps")."""
    cursor = index - 1
    skipped = 0
    while cursor >= 0 and skipped < 3 and (tokens[cursor] in _NOUN_MODIFIERS or cursor in nouns):
        cursor -= 1
        skipped += 1
    if cursor < 0:
        return False
    marker = tokens[cursor]
    if marker in lx.DETERMINERS or _is_number(marker):
        return True
    # "performs high kicks", "does squats" (but "practices dancing" is the verb "dance")
    light = VERB_FORMS.get(marker)
    return light is not None and light.lemma in lx.LIGHT_VERBS and (skipped > 0 or kind != "ing")


@dataclass
class _NounPhrase:
    words: list[str]  # determiners, modifiers and head, in prompt order
    head: str
    end: int  # index after the phrase
    determiners: int  # how many of `words` are determiners / numbers


@dataclass
class _VerbPhrase:
    lemma: str
    kind: str  # the written form in the prompt: "base", "third", "ing", "past"
    adverbs: list[str]
    connectors: list[str]
    boundary: str | None  # None, "comma" or "sentence": punctuation since the previous verb
    complement: list[str] = field(default_factory=list)
    has_object: bool = False


class RuleBasedMotionPromptExtractor:
    """The default motion-prompt extractor: deterministic, offline, explainable (see module docstring)."""

    name = "rules"

    def __call__(self, prompt: str) -> str:
        return self.extract(prompt)

    def extract(self, prompt: str) -> str:
        """Return the motion prompt of `prompt`, e.g. "a person dances gracefully"."""
        tokens = tokenize(normalize_prompt(prompt))
        verbs = find_verbs(tokens)
        phrases = [phrase for phrase in self._verb_phrases(tokens, verbs) if self._is_motion(phrase)]
        if not phrases:
            return NO_MOTION_PROMPT
        text = " ".join(f"{SUBJECT} {self._join(phrases)}".replace("_", " ").split())
        return text.replace(" ,", ",")

    # -- 2. segments and connectors --------------------------------------------------------------

    def _verb_phrases(self, tokens: list[str], verbs: list[int]) -> list[_VerbPhrase]:
        phrases = []
        starts = [self._phrase_start(tokens, verb, verbs[position - 1] if position else -1)
                  for position, verb in enumerate(verbs)]  # fmt: skip
        for position, verb in enumerate(verbs):
            previous_verb = verbs[position - 1] if position else -1
            start = starts[position]
            between = tokens[previous_verb + 1 : verb]
            boundary = None
            if any(token in _SENTENCE_PUNCTUATION for token in between):
                boundary = "sentence"
            elif any(token in _PUNCTUATION for token in between):
                boundary = "comma"
            lead = tokens[start:verb]
            # after a punctuation mark the connectors may also open the segment ("..., and then he sits")
            if boundary is not None:
                segment_start = max(i for i in range(previous_verb + 1, verb) if tokens[i] in _PUNCTUATION) + 1
                opening = []
                for token in tokens[segment_start:start]:
                    if token not in lx.CLAUSE_CONNECTORS and token not in _SUBJECT_PRONOUNS:
                        break
                    opening.append(token)
                lead = opening + lead
            connectors = [token for token in lead if token in lx.CLAUSE_CONNECTORS or token == "to"]
            if "to" in connectors and (verb - 2 < 0 or tokens[verb - 2] in lx.AUXILIARIES):
                connectors.remove("to")  # "starts to run" is "runs"
            adverbs = [token for token in tokens[start:verb] if token in lx.TEMPO_MANNER]
            form = VERB_FORMS[tokens[verb]]
            phrase = _VerbPhrase(form.lemma, form.kind, adverbs, connectors, boundary)
            end = starts[position + 1] if position + 1 < len(verbs) else len(tokens)
            self._parse_complement(tokens, verb + 1, end, phrase)
            phrases.append(phrase)
        return phrases

    @staticmethod
    def _phrase_start(tokens: list[str], verb: int, previous_verb: int) -> int:
        """First index of the connectors, pronouns, auxiliaries and adverbs right before `verb`."""
        lead_words = lx.CLAUSE_CONNECTORS | lx.AUXILIARIES | _SUBJECT_PRONOUNS | {"to"}
        start = verb
        seen_connector = False
        while start - 1 > previous_verb:
            token = tokens[start - 1]
            # adverbs between the connector and the verb are the verb's ("and then slowly gets up");
            # before the connector they end the previous phrase ("squats slowly and jumps")
            if not (token in lead_words or (token in lx.TEMPO_MANNER and not seen_connector)):
                break
            seen_connector = seen_connector or token in lx.CLAUSE_CONNECTORS
            start -= 1
        return start

    # -- 3. complements ---------------------------------------------------------------------------

    def _parse_complement(self, tokens: list[str], start: int, end: int, phrase: _VerbPhrase) -> None:
        """Fill `phrase.complement` from `tokens[start:end]`.

        A bare noun phrase is kept only in an object slot (right after the verb or a particle, after
        "and", or after a comma), so that "sits down and crosses his legs" does not glue "their legs"
        to "sits". Verbless segments after a comma continue the phrase ("walks to the left, then to the
        right"); what they hold is kept under the same rules, so ", cinematic lighting" vanishes.
        """
        kept = phrase.complement
        pending: list[str] = []  # joining words waiting for a kept word on their right
        object_slot = True
        light = phrase.lemma in lx.LIGHT_VERBS
        handling = phrase.lemma in lx.HANDLING_VERBS

        def keep(words: list[str]) -> None:
            if pending and kept:
                kept.extend(pending)
            pending.clear()
            kept.extend(words)

        index = start
        while index < end:
            token = tokens[index]
            if token in _PUNCTUATION:
                pending[:] = [","]
                object_slot = True
                index += 1
                continue
            if token in lx.CLAUSE_CONNECTORS and pending and pending[0] == ",":
                pending.append("while" if token == "as" else token)
                index += 1
                continue
            if token in lx.INNER_CONJUNCTIONS:
                pending[:] = [token.replace("_", " ")]
                object_slot = True
                index += 1
                continue

            if token in lx.PREPOSITIONS:
                if (phrase.lemma, token) in lx.PHRASAL_TRANSITIVE and index == start:
                    keep([token])
                    index += 1
                    continue
                noun_phrase = self._noun_phrase(tokens, index + 1, end)
                if noun_phrase is None:
                    if token in lx.PARTICLES or token in lx.DIRECTIONS:
                        keep([token])
                    index += 1
                    continue
                if self._head_in(noun_phrase.head, _PP_KEEP_HEADS):
                    keep([token, *self._render(noun_phrase)])
                elif token == "around":  # "runs around the playground": the path matters, the place does not
                    keep([token])
                object_slot = False
                index = noun_phrase.end
                continue

            noun_phrase = self._noun_phrase(tokens, index, end)
            is_adverb = token in lx.TEMPO_MANNER or token in lx.DIRECTIONS or token in lx.COUNT_ADVERBS
            if noun_phrase is not None and not (is_adverb and noun_phrase.end == index + 1):
                head = noun_phrase.head
                is_count = self._head_in(head, lx.COUNT_NOUNS)
                if light:
                    is_object = self._head_in(head, _LIGHT_OBJECT_HEADS)
                else:
                    is_object = (
                        self._head_in(head, _OBJECT_KEEP_HEADS)
                        or head in lx.OBJECT_PRONOUNS
                        or (handling and self._head_in(head, lx.PERSON_NOUNS))
                    )
                if is_count or (object_slot and is_object):
                    keep(self._render(noun_phrase))
                    phrase.has_object = phrase.has_object or not is_count
                else:
                    pending.clear()
                object_slot = False
                index = noun_phrase.end
                continue
            if is_adverb:
                keep([token])
            index += 1

    @staticmethod
    def _head_in(head: str, words: frozenset[str]) -> bool:
        """`head` or its singular is in `words`."""
        if head in words:
            return True
        singular = head[:-2] if head.endswith(("ches", "shes", "xes")) else head[:-1] if head.endswith("s") else head
        return singular in words

    @staticmethod
    def _noun_phrase(tokens: list[str], start: int, end: int) -> _NounPhrase | None:
        """Parse a noun phrase at `start` ("his left arm", "three quick punches", "a heavy box", "it")."""
        if start >= end:
            return None
        first = tokens[start]
        if first in lx.OBJECT_PRONOUNS:
            return _NounPhrase([first], first, start + 1, 0)

        def is_content(position: int) -> bool:
            token = tokens[position]
            if token in _PUNCTUATION or token in lx.PREPOSITIONS or token in lx.CLAUSE_CONNECTORS:
                return False
            if token in lx.INNER_CONJUNCTIONS or token in lx.COUNT_ADVERBS or token in lx.AUXILIARIES:
                return False
            if token in lx.DETERMINERS or token in _SUBJECT_PRONOUNS:
                return False
            return not (token in lx.TEMPO_MANNER and token not in lx.PHYSICAL_ADJECTIVES)

        words: list[str] = []
        index = start
        while index < end and (tokens[index] in lx.DETERMINERS or _is_number(tokens[index])):
            words.append(tokens[index])
            index += 1
        determiners = len(words)
        content_start = index
        while index < end and is_content(index):
            token = tokens[index]
            is_side = token in lx.SIDES or token in lx.PHYSICAL_ADJECTIVES
            # a direction is part of the phrase when it opens it ("the left", "his back") or modifies
            # a following noun ("a back kick"), not when it follows the noun ("the ball forward")
            modifies_next = index + 1 < end and is_content(index + 1) and tokens[index + 1] not in lx.DIRECTIONS
            if token in lx.DIRECTIONS and not is_side and index > content_start and not modifies_next:
                break
            if token in lx.DIRECTIONS and index == content_start and determiners == 0 and not is_side:
                return None  # a bare direction is an adverb, not a noun phrase
            if words and words[-1] in lx.BODY_PARTS and token in lx.POSTURE_PARTICIPLES:
                break
            # "a dog runs": the noun is a subject and the verb is its own
            if words and token in VERB_FORMS and words[-1] in _AGENTS:
                break
            words.append(token)
            index += 1
        if index == content_start:
            return None
        head = words[-1]
        if head in lx.BODY_PARTS and index < len(tokens) and tokens[index] in lx.POSTURE_PARTICIPLES:
            words.append(tokens[index])  # "arms crossed"
            index += 1
        return _NounPhrase(words, head, index, determiners)

    @staticmethod
    def _render(noun_phrase: _NounPhrase) -> list[str]:
        """Keep determiners, counts, sides, physical adjectives, motion words and the head; "his" -> "their"."""
        rendered = []
        last = len(noun_phrase.words) - 1
        for position, word in enumerate(noun_phrase.words):
            if position < noun_phrase.determiners:
                rendered.append("their" if word in lx.POSSESSIVES else word)
            elif (
                position == last
                or word == noun_phrase.head
                or word in _KEPT_MODIFIERS
                or word in lx.POSTURE_PARTICIPLES
                or _is_verb_ing(word)
            ):
                rendered.append(word)
        # fix "a" / "an" after dropped adjectives ("an old box" -> "a box")
        for position, word in enumerate(rendered[:-1]):
            if word in ("a", "an"):
                rendered[position] = "an" if rendered[position + 1][0] in "aeiou" else "a"
        return rendered

    # -- 4. writing it back -----------------------------------------------------------------------

    @staticmethod
    def _is_motion(phrase: _VerbPhrase) -> bool:
        if phrase.lemma in lx.LIGHT_VERBS:
            return phrase.has_object
        if phrase.lemma in lx.WEAK_VERBS:
            return bool(phrase.complement)
        return True

    @staticmethod
    def _join(phrases: list[_VerbPhrase]) -> str:
        parts = []
        for position, phrase in enumerate(phrases):
            connectors = ["while" if word == "as" else word for word in phrase.connectors]
            if position == 0:
                separator, kind = "", "third"
            elif connectors and connectors[-1] == "to":
                separator, kind = " to ", "base"
            elif connectors:
                kind = "ing" if connectors[-1] in lx.GERUND_CONNECTORS else "third"
                separator = (", " if phrase.boundary else " ") + " ".join(connectors) + " "
            elif phrase.boundary == "sentence":
                separator, kind = ", then ", "third"
            elif phrase.kind == "ing":
                separator, kind = ", ", "ing"
            else:
                separator, kind = (", " if phrase.boundary else ", then "), "third"
            words = [*phrase.adverbs, inflect(phrase.lemma, kind), *phrase.complement]
            parts.append(separator + " ".join(words))
        return "".join(parts)
