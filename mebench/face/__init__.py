"""The face front-end: frames I/O, MediaPipe landmarks, alignment, optical flow and spotting.

Submodules import OpenCV and MediaPipe lazily; importing :mod:`mebench.face` itself is cheap.

* :mod:`mebench.face.io`          streamed frames from image sequences and videos
* :mod:`mebench.face.landmarks`   ``Landmarker`` (478 points, 52 blendshapes), ``HaarFaceDetector``, ``REGIONS``
* :mod:`mebench.face.align`       ``align_clip()``: similarity alignment, per-clip or tracked
* :mod:`mebench.face.flow`        ``compute_flow()``, ``optical_strain()``, ``flow_image()``, ``onset_apex_flow()``
* :mod:`mebench.face.spotting`    ``spot_apex()``, ``spot_intervals()``, ``evaluate_spotting()``
* :mod:`mebench.face.synthetic_photo`  the ``face=photo`` mode of the synthetic dataset
"""
