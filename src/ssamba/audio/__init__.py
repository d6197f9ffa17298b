"""Audio input: decode, mix to mono, resample and stream files, with clear errors for bad audio."""

from __future__ import annotations

from ssamba.audio.io import AudioInfo, audio_info, decode_bytes, load_audio
from ssamba.audio.stream import iter_audio_blocks

__all__ = ["AudioInfo", "audio_info", "decode_bytes", "iter_audio_blocks", "load_audio"]
