"""Lazy catalog of the face front-end's registered built-ins (imports nothing heavy).

The face front-end itself (frames I/O, landmarks, alignment, flow, spotting) is a library used
by extractors and loaders; the extractors built on it are listed in ``mebench.features.catalog``.
The one component registered here is the clip-level spotting step, which wraps any extractor.
"""

BUILTINS = [
    ("extractors", "spotted", "mebench.face.spotting:SpottedFeatures",
     "Spot ME intervals in an untrimmed clip, run an ME extractor on each, aggregate (max, mean, count)"),
]
