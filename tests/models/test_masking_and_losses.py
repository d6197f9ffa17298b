"""Masking generators and MSPM losses against independent (naive) computations."""

from __future__ import annotations

import random

import pytest
import torch

from ssamba.models.masking import cluster_mask, draw_masks, random_mask
from ssamba.models.mspm import info_nce, reconstruction_mse


def naive_official_cluster_mask(rng: random.Random, total: int, masked: int, width: int) -> list[int]:
    side = rng.randrange(3) + 3
    ids: list[int] = []
    while len(set(ids)) <= masked:
        start = rng.randrange(total)
        for i in range(side):
            for j in range(side):
                k = start + width * i + j
                if 0 < k < total:
                    ids.append(k)
    return list(set(ids))[:masked]


@pytest.mark.parametrize("seed", [0, 1, 7, 123])
@pytest.mark.parametrize("masked", [100, 250, 400])
def test_official_order_equals_the_naive_generator(seed, masked):
    expected = naive_official_cluster_mask(random.Random(seed), 512, masked, 64)
    assert cluster_mask(random.Random(seed), 512, masked, 64, official_order=True) == expected


def test_default_cluster_mask_has_no_top_truncation_bias_but_same_support():
    rng = random.Random(0)
    for _ in range(20):
        mask = cluster_mask(rng, 512, 300, 64)
        assert len(set(mask)) == 300 and 0 not in mask and max(mask) < 512
    top_rows_default = sum(
        sum(i >= 448 for i in cluster_mask(random.Random(s), 512, 400, 64)) for s in range(200)
    )
    top_rows_official = sum(
        sum(i >= 448 for i in cluster_mask(random.Random(s), 512, 400, 64, official_order=True))
        for s in range(200)
    )
    assert top_rows_default > top_rows_official


def test_random_mask_and_errors():
    mask = random_mask(random.Random(0), 511, 400)
    assert len(set(mask)) == 400 and max(mask) < 511
    with pytest.raises(ValueError, match="cannot mask"):
        cluster_mask(random.Random(0), 512, 512, 64)
    with pytest.raises(ValueError, match="num_masked <= 510"):
        cluster_mask(random.Random(0), 512, 511, 64)  # would never find more than 511 candidates
    assert len(cluster_mask(random.Random(0), 16, 14, 4)) == 14
    with pytest.raises(ValueError, match="cannot mask"):
        random_mask(random.Random(0), 10, 11)
    assert draw_masks(random.Random(0), 3, (8, 64), 10, cluster=True).shape == (3, 10)


def test_info_nce_matches_a_per_clip_loop():
    torch.manual_seed(0)
    targets, predictions = torch.randn(3, 6, 5), torch.randn(3, 6, 5)
    total_nce, correct = 0.0, 0
    for b in range(3):
        scores = targets[b] @ predictions[b].T
        probs = torch.softmax(scores, dim=-1)
        for i in range(6):
            total_nce += -torch.log(probs[i, i])
            correct += int(max(range(6), key=lambda j: probs[j, i].item()) == i)
    nce, acc = info_nce(targets, predictions)
    torch.testing.assert_close(nce, total_nce / 18)
    assert acc.item() == pytest.approx(correct / 18)
    torch.testing.assert_close(
        reconstruction_mse(targets, predictions), ((targets - predictions) ** 2).mean()
    )


def test_single_pass_uses_one_mask_for_both_heads():
    import ssamba

    torch.manual_seed(0)
    model = ssamba.create_model("ssast_tiny", task="pretrain", input_tdim=64, depth=1).eval()
    fbank = torch.randn(2, 64, 128)
    mask = model.draw_masks(2, num_masked=5, rng=random.Random(3))
    with torch.no_grad():
        one = model.mspm_loss(fbank, mask, single_pass=True)
        two = model.mspm_loss(fbank, mask, mask)
    torch.testing.assert_close(one["loss"], two["loss"])


def test_encoder_refuses_a_mask_without_the_mask_token():
    """A mask index without `mask_embed` is a clear error (it used to fail inside `apply_mask`)."""
    import ssamba

    encoder = ssamba.create_model("ssamba_tiny", depth=2, input_tdim=64).encoder
    with pytest.raises(ValueError, match="mask_index needs mask_embed"):
        encoder(torch.zeros(1, 64, 128), torch.zeros(1, 3, dtype=torch.long))
