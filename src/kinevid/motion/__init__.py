"""The `Motion` sequence type, its file formats, codecs, retargeting, contacts and physical metrics."""

from . import io  # noqa: F401  the file formats; they install `Motion.load` / `Motion.save`
from .contacts import foot_contacts
from .metrics import physical_metrics
from .motion import Motion, bone_lengths, fit_offsets, heading_angle, offsets_from_joints
from .retarget import retarget_cmu20_to_smpl24

__all__ = [
    "Motion",
    "bone_lengths",
    "fit_offsets",
    "foot_contacts",
    "heading_angle",
    "offsets_from_joints",
    "physical_metrics",
    "retarget_cmu20_to_smpl24",
]
