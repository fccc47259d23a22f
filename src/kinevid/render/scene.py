"""The mannequin's look: clothing colours and build, background, and light; and a seeded sampler of all three."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import torch

from ..errors import InvalidInputError

BACKGROUND_KINDS = ("flat", "gradient", "texture")


@dataclass
class Appearance:
    """Clothing colours (RGB in [0, 1]) and build (capsule thickness factor)."""

    skin: tuple[float, float, float] = (0.87, 0.70, 0.58)
    shirt: tuple[float, float, float] = (0.20, 0.40, 0.75)
    trousers: tuple[float, float, float] = (0.22, 0.22, 0.28)
    shoes: tuple[float, float, float] = (0.12, 0.10, 0.10)
    hair: tuple[float, float, float] = (0.20, 0.13, 0.08)
    build: float = 1.0

    def part_colors(self) -> np.ndarray:
        """`(5, 3)` float32 colours indexed by the body parts of `kinevid.render.mannequin_body`."""
        return np.array([self.skin, self.shirt, self.trousers, self.shoes, self.hair], dtype=np.float32)


@dataclass
class Background:
    """What is behind the figure: a sky/wall (`sky_top` to `sky_bottom`) and a ground plane at y = 0.

    Kinds: `"flat"` (one sky colour, one ground colour), `"gradient"` (vertical sky gradient, ground
    fading with distance), `"texture"` (procedural noise on the sky, a checkerboard of `ground` and
    `ground_alt` with `checker_size` metres squares on the ground).
    """

    kind: str = "gradient"
    sky_top: tuple[float, float, float] = (0.55, 0.70, 0.90)
    sky_bottom: tuple[float, float, float] = (0.85, 0.88, 0.92)
    ground: tuple[float, float, float] = (0.55, 0.52, 0.48)
    ground_alt: tuple[float, float, float] = (0.45, 0.42, 0.38)
    checker_size: float = 0.5
    texture_seed: int = 0
    show_ground: bool = True

    def __post_init__(self) -> None:
        if self.kind not in BACKGROUND_KINDS:
            raise InvalidInputError(f"background `kind` must be one of {BACKGROUND_KINDS}, got {self.kind!r}.")


@dataclass
class Light:
    """A directional light (`direction` points towards the light) plus ambient light; `shadow` is the
    fraction of light the figure's shadow removes from the ground."""

    direction: tuple[float, float, float] = (0.35, 1.0, 0.45)
    ambient: float = 0.35
    shadow: float = 0.5

    def unit_direction(self) -> np.ndarray:
        direction = np.asarray(self.direction, dtype=np.float64)
        norm = np.linalg.norm(direction)
        if not norm > 0 or direction[1] <= 0:
            raise InvalidInputError(f"light `direction` must point upwards (y > 0), got {self.direction}.")
        return direction / norm


@dataclass
class Scene:
    """Everything but the motion and camera that decides the mannequin's pixels."""

    appearance: Appearance = field(default_factory=Appearance)
    background: Background = field(default_factory=Background)
    light: Light = field(default_factory=Light)


PALETTE_JITTER = 0.03
"""Largest change per sRGB channel of a colour drawn from a palette (`sample_scene(palette=...)`)."""


def sample_scene(
    generator: torch.Generator | None = None, palette: Sequence[tuple[float, float, float]] | None = None
) -> Scene:
    """Random clothing colours, build, background and lighting (seeded through `generator`).

    Args:
        generator (`torch.Generator`, *optional*): the source of every draw.
        palette (sequence of sRGB colours in [0, 1], *optional*): draw the shirt, trousers, floor and wall colours
            from these entries (each channel moved by at most `PALETTE_JITTER`) instead of uniformly in the RGB cube,
            so that a caption naming the entry names what is drawn; the wall's gradient runs between two jitters of
            one entry. Shoes, hair and skin stay uniform.
    """

    def uniform(low: float = 0.0, high: float = 1.0) -> float:
        return low + (high - low) * float(torch.rand((), generator=generator, dtype=torch.float64))

    def color(low: float = 0.05, high: float = 0.95) -> tuple[float, float, float]:
        return (uniform(low, high), uniform(low, high), uniform(low, high))

    def entry() -> tuple[float, float, float]:
        return palette[int(torch.randint(len(palette), (), generator=generator))]

    def jittered(base: tuple[float, float, float]) -> tuple[float, float, float]:
        return tuple(min(max(c + uniform(-PALETTE_JITTER, PALETTE_JITTER), 0.0), 1.0) for c in base)

    if palette is not None and len(palette) == 0:
        raise InvalidInputError("`palette` is empty: give at least one colour, or None for uniform colours.")

    skin_tone = uniform(0.25, 0.95)
    appearance = Appearance(
        skin=(skin_tone * 0.95 + 0.05, skin_tone * 0.75 + 0.03, skin_tone * 0.6 + 0.02),
        shirt=color() if palette is None else jittered(entry()),
        trousers=color(0.05, 0.7) if palette is None else jittered(entry()),
        shoes=color(0.02, 0.5),
        hair=color(0.02, 0.4),
        build=uniform(0.85, 1.2),
    )
    kind = BACKGROUND_KINDS[int(torch.randint(len(BACKGROUND_KINDS), (), generator=generator))]
    ground = color(0.2, 0.8) if palette is None else jittered(entry())
    if palette is None:
        sky_top, sky_bottom = color(0.3, 1.0), color(0.3, 1.0)
    else:
        wall = entry()
        sky_top, sky_bottom = jittered(wall), jittered(wall)
    background = Background(
        kind=kind,
        sky_top=sky_top,
        sky_bottom=sky_bottom,
        ground=ground,
        ground_alt=tuple(0.75 * c for c in ground),
        checker_size=uniform(0.3, 1.0),
        texture_seed=int(torch.randint(2**31 - 1, (), generator=generator)),
    )
    azimuth = uniform(-math.pi, math.pi)
    elevation = uniform(math.radians(35), math.radians(75))
    light = Light(
        direction=(
            math.cos(elevation) * math.sin(azimuth),
            math.sin(elevation),
            math.cos(elevation) * math.cos(azimuth),
        ),
        ambient=uniform(0.2, 0.5),
        shadow=uniform(0.3, 0.7),
    )
    return Scene(appearance, background, light)
