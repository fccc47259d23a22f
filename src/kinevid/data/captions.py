"""Captions of synthetic clips: what the person does (CMU's texts) and how the scene looks (the sampled
clothing colours, build, background, light and camera view), joined into one sentence:

    "a slim person in a red shirt and blue trousers walks, on a grey checkered floor in front of a
    light blue wall, lit from the left, seen from the front"

Colours are named by the nearest entry of `COLOR_NAMES` in CIELAB (perceptual distance), so the
appearance-following metric can compare the name with the colour a model painted.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass

import cv2
import numpy as np

from ..render.scene import Scene

#: Basic colour names and their sRGB values in [0, 1] (the names a caption uses).
COLOR_NAMES: dict[str, tuple[float, float, float]] = {
    "black": (0.05, 0.05, 0.05),
    "dark grey": (0.30, 0.30, 0.30),
    "grey": (0.52, 0.52, 0.52),
    "light grey": (0.75, 0.75, 0.75),
    "white": (0.96, 0.96, 0.96),
    "red": (0.80, 0.10, 0.10),
    "dark red": (0.50, 0.05, 0.08),
    "pink": (0.95, 0.55, 0.70),
    "orange": (0.95, 0.50, 0.10),
    "brown": (0.45, 0.28, 0.12),
    "beige": (0.85, 0.78, 0.62),
    "yellow": (0.95, 0.88, 0.15),
    "olive": (0.50, 0.50, 0.12),
    "green": (0.15, 0.65, 0.20),
    "dark green": (0.05, 0.35, 0.12),
    "light green": (0.60, 0.90, 0.50),
    "teal": (0.05, 0.50, 0.50),
    "turquoise": (0.25, 0.85, 0.80),
    "light blue": (0.55, 0.75, 0.95),
    "blue": (0.15, 0.30, 0.85),
    "navy": (0.05, 0.08, 0.40),
    "purple": (0.50, 0.15, 0.60),
    "lavender": (0.75, 0.65, 0.90),
    "magenta": (0.85, 0.15, 0.70),
}
#: Scene parts whose colours a caption names (keys of `SceneDescription.colors`).
COLOR_PARTS = ("shirt", "trousers", "shoes", "hair", "floor", "wall")
_SLIM_BUILD, _BROAD_BUILD = 0.95, 1.1  # `Appearance.build` (capsule thickness) thresholds
_SHORT_SCALE, _TALL_SCALE = 0.95, 1.05  # body size factor thresholds
_VERB_EXCEPTIONS = {"be": "is", "have": "has", "do": "does", "go": "goes"}
_VERB_WORDS = (
    "walk run jog jump hop skip dance step climb turn kick punch box march stretch swing sit stand pick throw "
    "catch lift push pull wash clean sweep wave bend crawl shuffle sidestep balance lean reach look play kneel "
    "squat roll spin twist limp carry drink eat stumble fall get lie rise bow clap shake stagger sneak tiptoe "
    "wander hold mop slide skate fight dribble shoot pass swim fly salute point move imitate perform do go "
    "cartwheel flip lunge rotate raise touch drag scratch chop saw hammer paint write vault leap"
)
_VERBS = frozenset(_VERB_WORDS.split())  # leading verbs of CMU descriptions ("walk forward", "pick up ball")


def _srgb_to_lab(rgb: np.ndarray) -> np.ndarray:
    """CIELAB `(N, 3)` of sRGB colours `(N, 3)` in [0, 1] (OpenCV's D65 conversion)."""
    rgb = np.clip(np.asarray(rgb, dtype=np.float32).reshape(-1, 1, 3), 0, 1)
    return cv2.cvtColor(rgb, cv2.COLOR_RGB2Lab).reshape(-1, 3)


_PALETTE_NAMES = list(COLOR_NAMES)
_PALETTE_LAB = _srgb_to_lab(np.array(list(COLOR_NAMES.values())))


def nearest_color_name(rgb: tuple[float, float, float] | np.ndarray) -> str:
    """The entry of `COLOR_NAMES` nearest to an sRGB colour in [0, 1] (Euclidean distance in CIELAB)."""
    lab = _srgb_to_lab(np.asarray(rgb, dtype=np.float32))[0]
    return _PALETTE_NAMES[int(np.argmin(((_PALETTE_LAB - lab) ** 2).sum(-1)))]


def _article(word: str) -> str:
    return "an" if word[:1] in "aeiou" else "a"


def view_name(camera_center: np.ndarray, person_position: np.ndarray, heading: float) -> str:
    """Where the camera is relative to the person's facing: `"front"`, `"behind"`, `"left"` or `"right"`.

    Args:
        camera_center (`np.ndarray` of shape `(3,)`): world position of the camera.
        person_position (`np.ndarray` of shape `(3,)`): world position of the person (e.g. the pelvis).
        heading (`float`): the person's facing yaw about +Y (0 = facing +Z, as `kinevid.motion.heading_angle`).
    """
    to_camera = np.asarray(camera_center, dtype=np.float64) - np.asarray(person_position, dtype=np.float64)
    forward = np.array([math.sin(heading), math.cos(heading)])  # (x, z)
    left = np.array([forward[1], -forward[0]])  # +X is the left of a body facing +Z
    along, across = float(forward @ to_camera[[0, 2]]), float(left @ to_camera[[0, 2]])
    angle = math.degrees(math.atan2(across, along))
    if abs(angle) <= 45:
        return "front"
    if abs(angle) >= 135:
        return "behind"
    return "left" if angle > 0 else "right"


def light_side(light_direction: np.ndarray, camera_forward: np.ndarray) -> str:
    """Which side of the image the light comes from: `"left"`, `"right"`, `"front"` (behind the camera) or
    `"behind"` (against the camera).

    Args:
        light_direction (`np.ndarray` of shape `(3,)`): world direction towards the light.
        camera_forward (`np.ndarray` of shape `(3,)`): world direction of the optical axis.
    """
    forward = np.asarray(camera_forward, dtype=np.float64)[[0, 2]]
    forward = forward / max(np.linalg.norm(forward), 1e-12)
    image_right = np.array([-forward[1], forward[0]])  # camera x (image right) for a level camera, Y up
    light = np.asarray(light_direction, dtype=np.float64)[[0, 2]]
    angle = math.degrees(math.atan2(float(image_right @ light), float(-forward @ light)))
    if abs(angle) <= 45:
        return "front"
    if abs(angle) >= 135:
        return "behind"
    return "right" if angle > 0 else "left"


@dataclass
class SceneDescription:
    """The words of a scene caption.

    Args:
        colors (`dict[str, str]`): colour name per part of `COLOR_PARTS`.
        build (`str`): e.g. `"slim"`, `"tall broad"` or `""`.
        background (`str`): the background kind of `kinevid.render.scene.Background` (`flat`, `gradient`, `texture`).
        light (`str`): the side the light comes from (see `light_side`).
        view (`str`): the camera's side relative to the person (see `view_name`).
    """

    colors: dict[str, str]
    build: str
    background: str
    light: str
    view: str

    @property
    def person(self) -> str:
        """`"a slim person in a red shirt and blue trousers"`."""
        noun = f"{self.build} person" if self.build else "person"
        shirt, trousers = self.colors["shirt"], self.colors["trousers"]
        return f"{_article(noun)} {noun} in {_article(shirt)} {shirt} shirt and {trousers} trousers"

    @property
    def setting(self) -> str:
        """`"on a grey checkered floor in front of a light blue wall, lit from the left, seen from the front"`."""
        floor, wall = self.colors["floor"], self.colors["wall"]
        if self.background == "texture":
            place = f"on {_article(floor)} {floor} checkered floor in front of a mottled {wall} wall"
        elif self.background == "gradient":
            place = f"on {_article(floor)} {floor} floor under {_article(wall)} {wall} sky"
        else:
            place = f"on {_article(floor)} {floor} floor in front of {_article(wall)} {wall} wall"
        light = "lit from behind" if self.light == "behind" else f"lit from the {self.light}"
        view = "seen from behind" if self.view == "behind" else f"seen from the {self.view}"
        return f"{place}, {light}, {view}"

    @property
    def caption(self) -> str:
        """The scene alone: `"<person>, <setting>"`."""
        return f"{self.person}, {self.setting}"


def describe_scene(
    scene: Scene,
    body_scale: float,
    camera_center: np.ndarray,
    camera_forward: np.ndarray,
    person_position: np.ndarray,
    heading: float,
) -> SceneDescription:
    """Name what a sampled scene looks like.

    Args:
        scene (`Scene`): the clothing, background and light the clip was rendered with.
        body_scale (`float`): the body size factor the motion was scaled by (1 = the CMU body).
        camera_center, camera_forward (`np.ndarray` of shape `(3,)`): camera position and optical axis (world).
        person_position (`np.ndarray` of shape `(3,)`): the person's pelvis in the middle frame.
        heading (`float`): the person's facing in the middle frame (see `view_name`).
    """
    appearance, background = scene.appearance, scene.background
    wall = np.asarray(background.sky_top) if background.kind == "flat" else (
        (np.asarray(background.sky_top) + np.asarray(background.sky_bottom)) / 2
    )  # fmt: skip
    colors = {
        "shirt": nearest_color_name(appearance.shirt),
        "trousers": nearest_color_name(appearance.trousers),
        "shoes": nearest_color_name(appearance.shoes),
        "hair": nearest_color_name(appearance.hair),
        "floor": nearest_color_name(background.ground),
        "wall": nearest_color_name(wall),
    }
    size = "tall" if body_scale >= _TALL_SCALE else "short" if body_scale <= _SHORT_SCALE else ""
    thickness = "slim" if appearance.build <= _SLIM_BUILD else "broad" if appearance.build >= _BROAD_BUILD else ""
    return SceneDescription(
        colors=colors,
        build=" ".join(word for word in (size, thickness) if word),
        background=background.kind,
        light=light_side(np.asarray(scene.light.direction), camera_forward),
        view=view_name(camera_center, person_position, heading),
    )


def _third_person(verb: str) -> str:
    if verb in _VERB_EXCEPTIONS:
        return _VERB_EXCEPTIONS[verb]
    if verb.endswith("y") and verb[-2:-1] not in "aeiou":
        return verb[:-1] + "ies"
    if verb.endswith(("s", "sh", "ch", "x", "z", "o")):
        return verb + "es"
    return verb + "s"


def action_predicate(action: str) -> str:
    """An action text as what a subject does: `"a person walks"` -> `"walks"`, `"walk forward"` ->
    `"walks forward"`, `"walking up stairs"` -> `"is walking up stairs"`; anything else (a noun phrase
    such as `"russian dance"`) -> `"doing: russian dance"`."""
    text = " ".join(action.split()).rstrip(".")
    lowered = text.lower()
    for subject in ("a person ", "the person ", "person "):
        if lowered.startswith(subject):
            return text[len(subject) :]
    first = re.sub(r"[^a-z]", "", lowered.partition(" ")[0])
    if first in _VERBS:
        return " ".join(word for word in (_third_person(first), text.partition(" ")[2]) if word)
    if first.endswith("ing") and len(first) > 4:
        return f"is {text[0].lower()}{text[1:]}"
    return f"doing: {text}"


def compose_caption(action: str, description: SceneDescription) -> str:
    """One sentence of the action and the scene: `"<person> <predicate>, <setting>"`."""
    return f"{description.person} {action_predicate(action)}, {description.setting}"
