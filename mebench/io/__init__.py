"""Clips and frame I/O: the bottom floor every loader, face step and extractor reads frames through.

* :mod:`mebench.io.clips`   ``Clip``, ``open_clip(locator)`` (frame folders, videos, single images and
  registered ``scheme:`` locators), ``ArrayClip``, ``SubClip``, ``as_clip``, ``read_image``;
* :mod:`mebench.io.stream`  ``stream``, ``read_frames``, ``check_clip``, ``write_frames``, ``write_video``.
"""
from .clips import (
                    FRAMES_VERSION,
                    IMAGE_EXTENSIONS,
                    VIDEO_EXTENSIONS,
                    ArrayClip,
                    Clip,
                    ImageSequenceClip,
                    SingleImageClip,
                    SubClip,
                    VideoClip,
                    as_clip,
                    frame_number,
                    frames_signature,
                    numbered_images,
                    open_clip,
                    read_image,
                    video_frame_count,
)
from .stream import check_clip, decode_frames, read_frames, size_wh, stream, write_frames, write_video

__all__ = ["FRAMES_VERSION", "IMAGE_EXTENSIONS", "VIDEO_EXTENSIONS", "ArrayClip", "Clip", "ImageSequenceClip",
           "SingleImageClip", "SubClip", "VideoClip", "as_clip", "frame_number", "frames_signature", "numbered_images",
           "open_clip", "read_image", "video_frame_count",
           "check_clip", "decode_frames", "read_frames", "size_wh", "stream", "write_frames", "write_video"]
