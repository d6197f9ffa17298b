"""The two task models: `AudioClassifier` (fine-tuning / embeddings) and `MSPMPretrainer` (pretraining)."""

from __future__ import annotations

import random
from typing import TYPE_CHECKING, ClassVar, Literal, overload

from torch import Tensor, nn

from ssamba.models.config import ModelConfig
from ssamba.models.encoder import AudioEncoder, EncoderOutput
from ssamba.models.layers import ClassifierHead, PredictionHead, pool_tokens
from ssamba.models.masking import draw_masks
from ssamba.models.mspm import gather_patches, info_nce, reconstruction_mse
from ssamba.models.patch import as_grid, unfold_patches
from ssamba.models.ssamba import SSAMBAEncoder
from ssamba.models.ssast import SSASTEncoder

if TYPE_CHECKING:
    from ssamba.data.labels import LabelMap

GENERATIVE_WEIGHT = 10.0


ENCODERS: dict[str, type[AudioEncoder]] = {"ssamba": SSAMBAEncoder, "ssast": SSASTEncoder}


def build_encoder(config: ModelConfig) -> AudioEncoder:
    """The encoder a config describes: its family's class, given its family's own config."""
    return ENCODERS[config.family](config.encoder_config())


class AudioModel(nn.Module):
    """Shared plumbing: a config, an encoder and the Hub-style save/load methods.

    `task` ("finetune" or "pretrain") names the subclass in saved folders and model cards.
    """

    task: ClassVar[str]

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        self.encoder = build_encoder(config)

    @property
    def num_special(self) -> int:
        return self.encoder.num_special

    def set_grad_checkpointing(self, enable: bool = True) -> None:
        """Recompute the encoder's blocks in the backward pass (see `AudioEncoder.set_grad_checkpointing`)."""
        self.encoder.set_grad_checkpointing(enable)

    def no_weight_decay(self) -> set[str]:
        """Parameters exempt from weight decay: the encoder's (see `AudioEncoder.no_weight_decay`)."""
        return {f"encoder.{name}" for name in self.encoder.no_weight_decay()}

    def save_pretrained(self, directory, feature_config=None) -> None:
        """Write `config.json`, `model.safetensors` and `preprocessor_config.json` into `directory`."""
        from ssamba.models.pretrained import save_pretrained

        save_pretrained(self, directory, feature_config)

    def push_to_hub(self, repo_id: str, **kwargs) -> str:
        """Upload to the Hugging Face Hub with a model card (`hub` extra); see `integrations.hub`."""
        from ssamba.integrations.hub import push_to_hub

        return push_to_hub(self, repo_id, **kwargs)


class AudioClassifier(AudioModel):
    """Encoder + pooling + LayerNorm/Linear head (timm-like API).

    `num_classes=0` gives a feature extractor: `forward` returns the pooled features. `label_map`
    names the classes (saved with the model, read back by `from_pretrained`; None: unnamed).
    """

    task: ClassVar[str] = "finetune"

    def __init__(self, config: ModelConfig) -> None:
        super().__init__(config)
        self.label_map: LabelMap | None = None
        self.pooling: str = config.pooling  # `reset_classifier` may set another; `pool_tokens` checks it
        self.num_features = config.embed_dim * (2 if config.pooling == "both" else 1)
        self.num_classes = config.num_classes
        self.head: nn.Module = (
            ClassifierHead(self.num_features, config.num_classes) if config.num_classes else nn.Identity()
        )

    @overload
    def forward_features(self, fbank: Tensor, return_hidden_states: Literal[False] = False) -> Tensor: ...

    @overload
    def forward_features(
        self, fbank: Tensor, return_hidden_states: Literal[True]
    ) -> tuple[Tensor, list[Tensor]]: ...

    @overload
    def forward_features(
        self, fbank: Tensor, return_hidden_states: bool
    ) -> Tensor | tuple[Tensor, list[Tensor]]: ...

    def forward_features(
        self, fbank: Tensor, return_hidden_states: bool = False
    ) -> Tensor | tuple[Tensor, list[Tensor]]:
        """fbank (B, T, F) -> final tokens (B, S + L, D) incl. special tokens, after the final norm(s).

        With `return_hidden_states=True` also the per-layer outputs (SSAMBA: one per layer pair).
        """
        output: EncoderOutput = self.encoder(fbank, return_hidden_states=return_hidden_states)
        if return_hidden_states:
            assert output.hidden_states is not None  # the encoder returns them when asked
            return output.last_hidden_state, output.hidden_states
        return output.last_hidden_state

    def forward_head(self, tokens: Tensor, pre_logits: bool = False) -> Tensor:
        """Pool tokens and apply the head (or return the pooled features with `pre_logits=True`)."""
        pooled = pool_tokens(tokens, self.num_special, self.pooling)
        return pooled if pre_logits else self.head(pooled)

    def forward(self, fbank: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(fbank))

    def reset_classifier(self, num_classes: int, pooling: str | None = None) -> None:
        """Replace the head by a fresh one with `num_classes` outputs (0 = features only)."""
        if pooling is not None:
            self.pooling = pooling
            self.num_features = self.config.embed_dim * (2 if pooling == "both" else 1)
        self.num_classes = num_classes
        self.label_map = None
        self.config = self.config.replace(num_classes=num_classes, pooling=self.pooling)
        device = self.encoder.pos_embed.device
        self.head = (
            ClassifierHead(self.num_features, num_classes).to(device) if num_classes else nn.Identity()
        )


class MSPMPretrainer(AudioModel):
    """Encoder + mask embedding + discriminative and generative heads (official pretraining model).

    Pretraining uses non-overlapping patches (stride = patch shape).
    """

    task: ClassVar[str] = "pretrain"

    def __init__(self, config: ModelConfig) -> None:
        if tuple(config.patch_stride) != tuple(config.patch_shape):
            config = config.replace(patch_stride=tuple(config.patch_shape))
        super().__init__(config)
        dim = config.embed_dim
        patch_dim = config.patch_shape[0] * config.patch_shape[1]
        self.mask_embed = nn.Parameter(nn.init.xavier_normal_(self.encoder.pos_embed.new_zeros(1, 1, dim)))
        self.disc_head = PredictionHead(dim, patch_dim)
        self.gen_head = PredictionHead(dim, patch_dim)

    @property
    def grid(self) -> tuple[int, int]:
        return self.encoder.grid

    def no_weight_decay(self) -> set[str]:
        """The encoder's exemptions and the mask embedding (a learned token)."""
        return super().no_weight_decay() | {"mask_embed"}

    def draw_masks(
        self,
        batch_size: int,
        num_masked: int = 400,
        rng: random.Random | None = None,
        official_order: bool = False,
        grid: tuple[int, int] | None = None,
    ) -> Tensor:
        """Masks (B, M) for this model: cluster masking for patch models, random frames for frame models."""
        return draw_masks(
            rng or random.Random(),
            batch_size,
            grid or self.grid,
            num_masked,
            cluster=not self.config.is_frame_model,
            official_order=official_order,
        ).to(self.encoder.pos_embed.device)

    def predict(self, fbank: Tensor, mask_index: Tensor, head: nn.Module) -> Tensor:
        """Encode with `mask_index` patches masked; head outputs at the masked positions (B, M, K)."""
        tokens = self.encoder(fbank, mask_index, self.mask_embed).last_hidden_state
        return head(gather_patches(tokens, mask_index + self.num_special))

    def mspm_loss(
        self,
        fbank: Tensor,
        mask_disc: Tensor | None = None,
        mask_gen: Tensor | None = None,
        num_masked: int = 400,
        rng: random.Random | None = None,
        single_pass: bool = False,
    ) -> dict[str, Tensor]:
        """Joint MSPM loss `nce + 10 * mse` with masked accuracy.

        Official: two forward passes with independent masks (discriminative, then generative).
        `single_pass=True` runs one pass and applies both heads to the same mask (about 2x faster).
        Masks are drawn inside (from `rng`) when not given.
        """
        rng = rng or random.Random()
        grid = self.encoder.patch_embed.grid(fbank.shape[1], fbank.shape[2])
        if mask_disc is None:
            mask_disc = self.draw_masks(fbank.shape[0], num_masked, rng, grid=grid)
        targets = unfold_patches(fbank, as_grid(self.config.patch_shape))
        disc_targets = gather_patches(targets, mask_disc)
        if single_pass:
            tokens = self.encoder(fbank, mask_disc, self.mask_embed).last_hidden_state
            masked = gather_patches(tokens, mask_disc + self.num_special)
            disc_pred, gen_pred, gen_targets = self.disc_head(masked), self.gen_head(masked), disc_targets
        else:
            if mask_gen is None:
                mask_gen = self.draw_masks(fbank.shape[0], num_masked, rng, grid=grid)
            disc_pred = self.predict(fbank, mask_disc, self.disc_head)
            gen_pred = self.predict(fbank, mask_gen, self.gen_head)
            gen_targets = gather_patches(targets, mask_gen)
        nce, acc = info_nce(disc_targets, disc_pred)
        mse = reconstruction_mse(gen_targets, gen_pred)
        return {"nce": nce, "acc": acc, "mse": mse, "loss": nce + GENERATIVE_WEIGHT * mse}
