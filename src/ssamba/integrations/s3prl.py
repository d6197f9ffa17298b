"""s3prl (SUPERB) upstream: `UpstreamExpert` returning every layer's frame features.

Follows the official SSAST upstream's front end (no waveform mean removal, AudioSet statistics,
non-overlapping windows of `window_secs`) and its feature layout: per patch time column, the
frequency patches concatenated into the feature axis ("concat", SSAST-compatible) or averaged
("mean"). One output frame per patch time column: `get_downsample_rates` = 160 * tstride samples.
SSAMBA's per-pair residual streams grow by 2x per pair, so they are passed through the encoder's
final norm before being exposed; SSAST block outputs are exposed as they are.
"""

from __future__ import annotations

import dataclasses

import torch
from torch import Tensor, nn

from ssamba.features import compute_fbank, normalize, pad_or_crop
from ssamba.models.loading import load_encoder

SAMPLE_RATE = 16000
FEATURE_LAYOUTS = ("concat", "mean")
# Keyword arguments s3prl passes to every upstream for its own checkpoint downloads (`refresh` from
# `S3PRLUpstream` and the downstream runner, `legacy` from tools/extract_feat.py): ignored here.
S3PRL_OWN_OPTIONS = ("refresh", "legacy")


class UpstreamExpert(nn.Module):
    """s3prl upstream over an ssamba encoder.

    Args:
        ckpt: a `save_pretrained` folder, Hub id, official `.pth` file or registry name.
        model_config: unused (s3prl passes its `-g` option here); kept for the s3prl signature.
        window_secs: window length (default: the model's input length).
        feature: "concat" (frequency patches concatenated, as SSAST's upstream) or "mean".
        options: passed to the loader (e.g. `fstride`, `tstride`, `input_tdim` for official files),
            less s3prl's own `refresh` and `legacy`.
    """

    def __init__(
        self,
        ckpt: str = "",
        model_config: str | None = None,
        window_secs: float | None = None,
        feature: str = "concat",
        **options,
    ) -> None:
        super().__init__()
        if feature not in FEATURE_LAYOUTS:
            raise ValueError(f"feature must be one of {FEATURE_LAYOUTS}, got {feature!r}")
        options = {key: value for key, value in options.items() if key not in S3PRL_OWN_OPTIONS}
        model, features = load_encoder(ckpt, **options)
        frames = round(window_secs * 100) if window_secs else model.config.input_tdim
        self.model = model
        self.features = dataclasses.replace(
            features, target_length=frames, subtract_waveform_mean=False, sample_rate=SAMPLE_RATE
        )
        self.feature = feature
        self.window_samples = frames * 160

    def get_downsample_rates(self, key: str = "hidden_states") -> int:
        """Samples per output frame (one frame per patch time column)."""
        return 160 * self.model.config.patch_stride[1]

    def _windows(self, wav: Tensor) -> Tensor:
        count = max(1, -(-wav.shape[0] // self.window_samples))
        padded = torch.nn.functional.pad(wav, (0, count * self.window_samples - wav.shape[0]))
        windows = []
        for chunk in padded.reshape(count, self.window_samples):
            fbank = pad_or_crop(compute_fbank(chunk, self.features), self.features.target_length)
            windows.append(normalize(fbank, self.features.mean, self.features.std))
        return torch.stack(windows)

    def _layer_frames(self, tokens: Tensor, grid: tuple[int, int]) -> Tensor:
        """(windows, S + f*t, D) -> (windows * t, f*D or D) in time order."""
        patches = tokens[:, self.model.encoder.num_special :].reshape(tokens.shape[0], grid[0], grid[1], -1)
        if self.feature == "mean":
            frames = patches.mean(dim=1)
        else:
            frames = patches.permute(0, 2, 1, 3).reshape(tokens.shape[0], grid[1], -1)
        return frames.reshape(-1, frames.shape[-1])

    def forward(self, wavs: list[Tensor]) -> dict[str, list[Tensor] | Tensor]:
        """Unpadded 1-D 16 kHz waveforms -> {"hidden_states": [(B, T, F)] per layer, "last_hidden_state"}."""
        device = self.model.encoder.pos_embed.device
        rate = self.get_downsample_rates()
        windows = [self._windows(wav.detach().float().cpu()) for wav in wavs]
        batch = torch.cat(windows).to(device)
        last, hidden = self.model.forward_features(batch, return_hidden_states=True)
        hidden = [self.model.encoder.norm_hidden_state(state) for state in hidden]
        grid = self.model.encoder.patch_embed.grid(batch.shape[1], batch.shape[2])
        lengths = [max(1, round(wav.shape[0] / rate)) for wav in wavs]
        layers = []
        for state in [*hidden, last]:
            per_layer, first = [], 0
            for wav_windows, length in zip(windows, lengths, strict=True):
                frames = self._layer_frames(state[first : first + wav_windows.shape[0]], grid)
                first += wav_windows.shape[0]
                if frames.shape[0] < length:  # the last column ends before the audio does
                    frames = torch.cat([frames, frames[-1:].expand(length - frames.shape[0], -1)])
                per_layer.append(frames[:length])
            layers.append(nn.utils.rnn.pad_sequence(per_layer, batch_first=True))
        return {"hidden_states": layers, "last_hidden_state": layers[-1]}


def ssamba_upstream(ckpt: str, model_config: str | None = None, **kwargs) -> UpstreamExpert:
    """s3prl hub entry: `-u ssamba_upstream -k <ckpt>` (a folder, Hub id or official .pth)."""
    return UpstreamExpert(ckpt, model_config, **kwargs)


def ssamba_frame_features(ckpt: str, model_config: str | None = None, **kwargs) -> UpstreamExpert:
    """s3prl hub entry with features averaged over frequency patches (dimension D per frame)."""
    return UpstreamExpert(ckpt, model_config, feature="mean", **kwargs)
