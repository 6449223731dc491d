"""The rfs-monitoring pytest plugin, loaded through the ``pytest11`` entry point.

It stays light at import: no FastAPI or OpenTelemetry import happens when pytest loads it.
"""
