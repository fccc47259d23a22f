"""Datasets (mocap, paired video+motion), the synthetic paired-data builder, latent and text caches."""

from .cmu import CMUMocap, CMUTrial, find_cmu_root, split_subjects

__all__ = ["CMUMocap", "CMUTrial", "find_cmu_root", "split_subjects"]
