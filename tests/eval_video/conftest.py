"""Tiny randomly initialised CLIP and DINO models saved to disk."""

from __future__ import annotations

import json
import string

import pytest
import torch


@pytest.fixture(scope="session")
def tiny_clip_dir(tmp_path_factory):
    """A 1-layer CLIPModel (32 px images, 8-dim projections) with a character-level CLIP tokenizer."""
    from transformers import CLIPConfig, CLIPModel, CLIPTokenizer

    directory = tmp_path_factory.mktemp("tiny_clip")
    letters = list(string.ascii_lowercase)
    vocab = ["<|startoftext|>", "<|endoftext|>", *letters, *[f"{c}</w>" for c in letters]]
    (directory / "vocab.json").write_text(json.dumps({token: i for i, token in enumerate(vocab)}))
    (directory / "merges.txt").write_text("#version: 0.2\n")
    tokenizer = CLIPTokenizer(str(directory / "vocab.json"), str(directory / "merges.txt"))
    config = CLIPConfig(
        text_config={
            "vocab_size": len(vocab),
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "max_position_embeddings": 32,
            "bos_token_id": 0,
            "eos_token_id": 1,
            "pad_token_id": 1,
        },
        vision_config={
            "hidden_size": 16,
            "intermediate_size": 32,
            "num_hidden_layers": 1,
            "num_attention_heads": 2,
            "image_size": 32,
            "patch_size": 8,
        },
        projection_dim=8,
    )
    torch.manual_seed(0)
    CLIPModel(config).save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


@pytest.fixture(scope="session")
def tiny_dino_dir(tmp_path_factory):
    """A 1-layer ViTModel (DINO layout: CLS of the final layer norm), 32 px, patch 8."""
    from transformers import ViTConfig, ViTModel

    directory = tmp_path_factory.mktemp("tiny_dino")
    config = ViTConfig(
        hidden_size=16, num_hidden_layers=1, num_attention_heads=2, intermediate_size=32, image_size=32, patch_size=8
    )
    torch.manual_seed(0)
    ViTModel(config, add_pooling_layer=False).save_pretrained(directory)
    return directory
