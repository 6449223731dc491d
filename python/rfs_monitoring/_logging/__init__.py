"""The logging pipeline behind `rfs_monitoring.result_logging`, one concept per module (private)."""
