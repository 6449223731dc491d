"""Typed stubs of the Rust extension module ``rfs_monitoring._core``."""

__version__: str
