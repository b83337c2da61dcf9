"""Lazy catalog of the face front-end's registered built-ins (imports nothing heavy).

The face front-end itself (frames I/O, landmarks, alignment, flow, spotting) is a library used
by extractors and dataset loaders. The one component listed here is the clip-level spotting step
of the front-end (spot ME intervals in untrimmed clips, run an ME extractor on each interval,
aggregate per clip); its class lives with the other extractors.
"""

BUILTINS = [("extractors", "spotted", "mebench.features.spotted:SpottedFeatures",
             "Spot ME intervals in an untrimmed clip, run an ME extractor on each, aggregate (max, mean, count)")]
