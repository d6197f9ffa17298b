"""The CPU peak-memory probe against a known allocation, and the address-space cap."""

from __future__ import annotations

import sys
import time

import numpy as np
import pytest
import torch

from ssamba.bench.efficiency import _is_oom
from ssamba.bench.memory import (
    FAST_INTERVAL_S,
    SLOW_INTERVAL_S,
    PeakRSSSampler,
    address_space_limit,
    trim_heap,
)

pytestmark = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc")

SIZE = 200 * 2**20


def test_sampler_measures_a_known_allocation_within_10_percent() -> None:
    trim_heap()
    with PeakRSSSampler(interval_s=FAST_INTERVAL_S) as sampler:
        start = sampler.sampled_peak_bytes
        buffer = np.ones(SIZE, dtype=np.uint8)  # every page touched
        time.sleep(0.05)  # long enough for the 1 ms sampling thread to see it
        del buffer
    assert sampler.sampled_peak_bytes - start == pytest.approx(SIZE, rel=0.1)
    assert sampler.peak_bytes - start == pytest.approx(SIZE, rel=0.1)


def test_high_water_mark_catches_a_spike_between_samples() -> None:
    trim_heap()
    with PeakRSSSampler(interval_s=10.0) as sampler:  # the thread samples once, at the start
        start = sampler.sampled_peak_bytes
        buffer = np.ones(SIZE, dtype=np.uint8)
        del buffer
    if sampler.hwm_bytes is None:
        pytest.skip("this kernel does not allow resetting VmHWM")
    assert sampler.peak_bytes - start == pytest.approx(SIZE, rel=0.1)


def test_default_period_is_slow_only_where_the_kernel_keeps_the_peak() -> None:
    with PeakRSSSampler() as sampler:
        pass
    expected = FAST_INTERVAL_S if sampler.hwm_bytes is None else SLOW_INTERVAL_S
    assert sampler.interval_s == expected


def test_address_space_cap_turns_overallocation_into_a_catchable_oom() -> None:
    with address_space_limit(64 * 2**20), pytest.raises(RuntimeError) as info:
        torch.empty(2**31, dtype=torch.uint8)
    assert _is_oom(info.value)
    assert torch.empty(2**28, dtype=torch.uint8).numel() == 2**28  # the cap is lifted again
