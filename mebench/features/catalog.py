"""Lazy catalog of the feature extractors (handcrafted and deep): (kind, name, "module:attr", description).

Imports nothing: the modules load only when an extractor is used (``hoof`` is listed in
``mebench.catalog``; the clip-level ``spotted`` wrapper in ``mebench.face.catalog``).
"""

BUILTINS = [
    ("extractors", "lbptop", "mebench.features.lbptop:LBPTOP",
     "LBP-TOP uniform-pattern histograms on XY/XT/YT planes per block (Zhao & Pietikainen 2007)"),
    ("extractors", "mdmo", "mebench.features.flow_features:MDMO",
     "Main Directional Mean Optical flow over landmark-defined ROIs (Liu et al. 2016)"),
    ("extractors", "biwoof", "mebench.features.flow_features:BiWOOF",
     "Bi-Weighted Oriented Optical Flow from the onset and apex frames (Liong et al. 2018)"),
    ("extractors", "au-mediapipe", "mebench.features.au:AUMediaPipe",
     "AU intensity estimates from MediaPipe blendshapes: onset->apex change and time-series statistics"),
    ("extractors", "landmark-motion", "mebench.features.landmark_motion:LandmarkMotion",
     "Landmark displacement onset->apex per face region, normalised by inter-ocular distance"),
    ("extractors", "openface", "mebench.features.openface:OpenFaceAUs",
     "Import OpenFace 2.x per-frame AU CSVs found beside the clips, aggregated per clip"),
    ("extractors", "resnet-fpf", "mebench.features.deep.extractors:ResNetFPF",
     "Apex appearance: backbone map (stride 16) pooled globally and per facial region (FPF)"),
    ("extractors", "resnet-tmfe", "mebench.features.deep.extractors:ResNetTMFE",
     "Onset->apex motion image (flow u, v, magnitude/strain, or difference) through a backbone, pooled (TMFE)"),
    ("extractors", "resnet-fpf-tmfe", "mebench.features.deep.extractors:ResNetFPFTMFE",
     "FPF and TMFE backbone maps concatenated along channels, then pooled (the seed pipeline's fusion)"),
    ("extractors", "au-libreface", "mebench.features.deep.libreface:AULibreFace",
     "LibreFace-style AU heads (12 DISFA intensities, 12 BP4D detections) at onset and apex; checkpoint or trained per fold"),
    ("extractors", "flow-image", "mebench.features.deep.flow_image:FlowImage",
     "One (3, 28, 28) image per sample: a precomputed flow image / apex crop, or (u, v, strain) from onset->apex"),
]
