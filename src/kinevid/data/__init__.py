"""Datasets (mocap, paired video+motion), the synthetic paired-data builder, latent and text caches.

The paired-data and cache names load on first use (they import the video VAE, i.e. diffusers), so
`kinevid.data.cmu` stays quick to import.
"""

from __future__ import annotations

import importlib

from .cmu import CMUMocap, CMUTrial, find_cmu_root, split_subjects

_LAZY = {
    "SynthConfig": "synth",
    "build_synthetic_dataset": "synth",
    "SyntheticPairedDataset": "paired",
    "CacheClip": "cache",
    "CacheSource": "cache",
    "LatentCacheDataset": "cache",
    "SyntheticCacheSource": "cache",
    "build_latent_cache": "cache",
    "VideoFolderSource": "real_video",
}

__all__ = ["CMUMocap", "CMUTrial", "find_cmu_root", "split_subjects", *_LAZY]


def __getattr__(name: str):
    if name in _LAZY:
        return getattr(importlib.import_module(f".{_LAZY[name]}", __name__), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
