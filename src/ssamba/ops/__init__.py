"""Numerical kernels: the selective scan and its backends."""

from ssamba.ops.scan_ref import selective_scan_ref
from ssamba.ops.selective_scan import register_backend, selective_scan

__all__ = ["register_backend", "selective_scan", "selective_scan_ref"]
