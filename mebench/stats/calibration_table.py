"""Measured calibration of the paired tests and intervals (generated; do not edit)."""

MEASURED = {"tests": {}, "coverage": {}, "equal": {}, "power": {}, "setting": "not measured yet"}
