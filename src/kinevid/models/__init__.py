"""Models: `structure/` (text -> motion), `appearance/` (Wan-based DiTs) and the shared 3D RoPE (`rope`)."""
