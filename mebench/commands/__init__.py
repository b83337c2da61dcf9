"""Click sub-commands that live outside cli.py. Each module must import cheaply (no torch, no mediapipe)."""
