"""The face front-end: MediaPipe landmarks, alignment, optical flow and spotting (frames come from :mod:`mebench.io`).

Submodules import OpenCV and MediaPipe lazily; importing :mod:`mebench.face` itself is cheap.

* :mod:`mebench.face.landmarks`   ``Landmarker`` (478 points, 52 blendshapes), ``HaarFaceDetector``, ``REGIONS``
* :mod:`mebench.face.align`       ``align_clip()``: similarity alignment, per-clip or tracked
  (:mod:`~mebench.face.geometry`, :mod:`~mebench.face.landmarker_pool`, :mod:`~mebench.face.align_cache`)
* :mod:`mebench.face.grid`        the face grid (equal cells) every block feature uses
* :mod:`mebench.face.flow`        ``compute_flow()``, ``optical_strain()``, ``flow_image()``, ``onset_apex_flow()``
* :mod:`mebench.face.spotting`    ``spot_apex()``, ``spot_intervals()``, ``evaluate_spotting()``
"""
