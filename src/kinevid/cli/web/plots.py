"""The foot plot of a result: foot joint heights over time with the frames labelled as ground contact."""

from __future__ import annotations

from pathlib import Path

from ...motion import Motion
from ...motion.contacts import FOOT_JOINTS, foot_contacts

FOOT_NAMES = ("left ankle", "left toe", "right ankle", "right toe")
FOOT_COLORS = ("tab:blue", "tab:cyan", "tab:red", "tab:orange")


def plot_feet(motion: Motion, path: Path) -> Path:
    """Write a PNG of the heights (m above the floor, y = 0) of `FOOT_JOINTS` over time, each joint's contact
    frames (`kinevid.motion.contacts.foot_contacts`) drawn as a bar under the curves."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    joints = motion.joints.detach().cpu().float()
    heights = joints[:, list(FOOT_JOINTS), 1].numpy()  # (T, 4)
    contacts = foot_contacts(joints, motion.fps).numpy()  # (T, 4)
    time = [index / motion.fps for index in range(motion.num_frames)]
    figure, axes = plt.subplots(figsize=(7.0, 3.2), dpi=100)
    bar = max(0.02, float(heights.max()) * 0.04)
    for index, (name, color) in enumerate(zip(FOOT_NAMES, FOOT_COLORS, strict=True)):
        axes.plot(time, heights[:, index], color=color, label=name)
        axes.fill_between(
            time, -bar * (index + 1), -bar * index, where=contacts[:, index], color=color, step="post", alpha=0.8
        )
    axes.axhline(0.0, color="black", linewidth=0.8)
    axes.set_xlabel("time (s)")
    axes.set_ylabel("height (m); bars: contact")
    axes.set_title("foot heights and contacts")
    axes.legend(loc="upper right", fontsize="small", ncol=2)
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
