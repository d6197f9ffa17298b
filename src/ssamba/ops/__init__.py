"""Numerical kernels: the selective scan and its backends."""

from ssamba.ops.malloc_tuning import keep_large_allocations_in_heap
from ssamba.ops.scan_ref import selective_scan_ref
from ssamba.ops.selective_scan import register_backend, selective_scan

__all__ = ["keep_large_allocations_in_heap", "register_backend", "selective_scan", "selective_scan_ref"]
