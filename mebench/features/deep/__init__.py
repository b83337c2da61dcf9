"""Deep features: ImageNet backbones cut at stride 16, and the extractors built on them.

- :mod:`.weights`    where weights come from (``weights=imagenet|PATH|none``), sha256, ``trained_on``;
- :mod:`.backbones`  ``resnet18``, ``resnet34``, ``resnet50`` (torchvision) and ``efficientnet-lite0``
  (timm ``tf_efficientnet_lite0``) as modules returning the stride-16 feature map (14x14 at 224 px);
- :mod:`.extractors` ``resnet-fpf`` (apex appearance pooled per facial region), ``resnet-tmfe``
  (onset->apex motion image), ``resnet-fpf-tmfe`` (both maps concatenated along channels);
- :mod:`.libreface`  ``au-libreface``, per-AU heads on a backbone (a LibreFace checkpoint, or trained
  inside each fold on the training subjects' AU annotations);
- :mod:`.flow_image` ``flow-image``, one 28x28 (u, v, strain) image or apex crop per sample.

Importing this package imports nothing heavy; torch is imported by the submodules.
"""
