"""MoSA's losses: mask (L_m), dense tracking (L_track) with its differentiable tracker, contact (L_cont),
ground-truth tracks of real videos (OpenCV Lucas-Kanade), and their combination `MoSALoss`."""

from .contact import contact_loss, floor_penetration_loss, foot_contact_targets, foot_slide_loss, video_contact_loss
from .cotracker import CoTrackerAdapter, cotracker_tracks, load_cotracker3
from .lucas_kanade import good_features, lucas_kanade_tracks
from .mask import mask_loss
from .mosa_loss import MoSALoss, MoSALossConfig
from .tracker import DenseTracker
from .tracking import pair_weights, track_accuracy, tracking_loss

__all__ = [
    "CoTrackerAdapter",
    "DenseTracker",
    "MoSALoss",
    "MoSALossConfig",
    "contact_loss",
    "cotracker_tracks",
    "floor_penetration_loss",
    "foot_contact_targets",
    "foot_slide_loss",
    "good_features",
    "load_cotracker3",
    "lucas_kanade_tracks",
    "mask_loss",
    "pair_weights",
    "track_accuracy",
    "tracking_loss",
    "video_contact_loss",
]
