"""Body-side words for captions that name a one-sided action but not its side.

CMU's descriptions say "kick", "wave hello", "punch" and almost never which leg or hand (of its 148
trials with such actions, the 19 that name a side are all hops and hop-turns). A text-to-motion model
trained on them cannot learn "with the right leg": mirroring swaps left and right in the caption,
but there is nothing to swap. `add_side_words` reads the side from the motion itself, with the
measures the action probes use (`kinevid.motion.limbs`): the kicking leg is the one whose ankle
rose higher, the waving / punching / pointing hand the one whose wrist rose higher over its
shoulder. When one side leads by at least the margin, the caption gets "with the right leg" /
"with the left hand" after the action; otherwise (both sides alike, or a side word already there)
it is returned unchanged. Mirrored windows then swap the word with the body
(`kinevid.data.motion_windows.swap_left_right`).

    >>> add_side_words("kick ball", joints)      # the right ankle peaked 0.3 m above the left
    'kick ball with the right leg'
    >>> add_side_words("Punch Kick", joints)     # right wrist and left ankle higher
    'Punch with the right hand Kick with the left leg'
"""

from __future__ import annotations

import re

import torch

from ..motion.limbs import OTHER_SIDE, SIDES, ankle_peak, wrist_raise

LEG_SIDE_MARGIN = 0.10  # m, the kicking ankle's peak over the other ankle's (the kick probe's margin)
HAND_SIDE_MARGIN = 0.15  # m, the acting wrist's raise over the other wrist's (the wave probe's margin)

LEG_ACTIONS = ("kick", "kicks", "kicking", "kicked")
HAND_ACTIONS = (
    "wave", "waves", "waving", "punch", "punches", "punching", "jab", "jabs", "point", "points", "pointing",
    "salute", "salutes", "saluting", "throw", "throws", "throwing",
)  # fmt: skip
_ACTION_LIMBS = {word: "leg" for word in LEG_ACTIONS} | {word: "hand" for word in HAND_ACTIONS}
_SIDE_PATTERN = re.compile(r"\b(left|right|lefthand|righthand|lft|rt|lt)\b", re.IGNORECASE)
_CLAUSE_END = re.compile(r",|;|\.|\(|\band\b|\bthen\b|\bwhile\b|$", re.IGNORECASE)
_WORD = re.compile(r"[A-Za-z][A-Za-z'-]*")


def dominant_side(joints: torch.Tensor, limb: str) -> str | None:
    """The side whose leg (`limb="leg"`: ankle peak) or hand (`"hand"`: wrist raise over the shoulder) led by
    at least the margin, or None. `joints`: `(T, 24, 3)` SMPL-24 positions, Y up, metres."""
    measure, margin = (ankle_peak, LEG_SIDE_MARGIN) if limb == "leg" else (wrist_raise, HAND_SIDE_MARGIN)
    values = {side: measure(joints, side) for side in SIDES}
    for side in SIDES:
        if values[side] - values[OTHER_SIDE[side]] >= margin:
            return side
    return None


def add_side_words(text: str, joints: torch.Tensor) -> str:
    """`text` with "with the <side> leg/hand" after each one-sided action word whose side the motion shows.

    The phrase goes right after the action word when the next word is another action or the clause ends there
    ("Punch Kick" -> "Punch with the right hand Kick ..."), else at the end of its clause ("kick ball, walk" ->
    "kick ball with the right leg, walk"). Texts that already name a side are returned unchanged.

    Args:
        text (`str`): a caption.
        joints (`torch.Tensor`): `(T, 24, 3)` joint positions of the captioned motion.
    """
    if _SIDE_PATTERN.search(text):
        return text
    sides = {limb: dominant_side(joints, limb) for limb in ("leg", "hand")}
    insertions: dict[int, list[str]] = {}
    labelled: set[str] = set()
    for match in _WORD.finditer(text):
        limb = _ACTION_LIMBS.get(match.group(0).lower())
        if limb is None or sides[limb] is None or limb in labelled:
            continue
        labelled.add(limb)
        clause_end = _CLAUSE_END.search(text, match.end()).start()
        following = _WORD.search(text, match.end(), clause_end)
        at = match.end() if following is None or following.group(0).lower() in _ACTION_LIMBS else clause_end
        at = len(text[:at].rstrip())
        insertions.setdefault(at, []).append(f" with the {sides[limb]} {limb}")
    for at in sorted(insertions, reverse=True):
        text = text[:at] + "".join(insertions[at]) + text[at:]
    return text
