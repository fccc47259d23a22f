"""Text for kinevid: encoders (MiniLM by default, T5 / umT5 from a local path) and motion prompts."""

from kinevid.text.encoder import TextEmbeddings, TextEncoder
from kinevid.text.loading import TEXT_ENCODER_NAMES, load_text_encoder
from kinevid.text.minilm import MiniLMTextEncoder
from kinevid.text.motion_prompt import extract_motion_prompt, get_motion_prompt_extractor
from kinevid.text.t5 import T5TextEncoder

__all__ = [
    "TEXT_ENCODER_NAMES",
    "MiniLMTextEncoder",
    "T5TextEncoder",
    "TextEmbeddings",
    "TextEncoder",
    "extract_motion_prompt",
    "get_motion_prompt_extractor",
    "load_text_encoder",
]
