"""``au-libreface``: a backbone with LibreFace-style per-AU heads, evaluated at the onset and the apex.

Two heads, each ``Linear(D, 128) -> ReLU -> BatchNorm1d(128) -> Dropout -> Linear(128, 12) -> Sigmoid``:

- **intensity** for the 12 DISFA AUs :data:`INTENSITY_AUS` (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26);
- **detection** for the 12 BP4D AUs :data:`DETECTION_AUS` (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24).

Where the heads come from:

1. **LibreFace checkpoints** (``intensity_checkpoint=PATH`` and/or ``detection_checkpoint=PATH``,
   with ``backbone=resnet18``): LibreFace's published ResNet-18 models (AU recognition on DISFA,
   AU detection on BP4D) are ``torch.save({"model": state_dict, ...})`` files whose state dict holds
   an ``encoder`` (torchvision ResNet-18 without its ``fc``, as an ``nn.Sequential``) and a
   ``classifier`` head. Each file brings its own encoder. Key mapping (a ``module.`` prefix is
   dropped; any other key is refused, naming it):

   ===========================  ==========================================
   LibreFace key                mebench
   ===========================  ==========================================
   ``encoder.0.*``              ResNet-18 ``conv1.*``
   ``encoder.1.*``              ``bn1.*``
   ``encoder.4.*`` .. ``7.*``   ``layer1.*`` .. ``layer4.*``
   ``classifier.0.*``           head ``fc1.*`` (Linear 512 -> 128)
   ``classifier.2.*``           head ``bn.*`` (BatchNorm1d 128)
   ``classifier.4.*``           head ``fc2.*`` (Linear 128 -> 12)
   ===========================  ==========================================

   The encoder's global average pool (512 values) feeds the head; intensities are LibreFace's
   sigmoid x 5, clamped to [0, 5]; detections are probabilities. The checkpoints are not trained
   in folds (``fit`` reads no targets); ``trained_on`` declares ImageNet plus DISFA / BP4D, and
   whatever ``pretrained_on`` adds.
2. **Trained inside each fold** (no checkpoint): the backbone (``weights=imagenet|PATH|none``) stays
   frozen; its stride-16 map of the aligned apex crop, pooled globally and per facial region as in
   ``resnet-fpf``, is standardised and feeds both heads, trained on the training rows' AU
   annotations only (``fit(X, targets=DataFrame with an "aus" column)``; CASME II / SAMM code AU
   presence, so both heads learn presence: intensity by squared error, detection by cross-entropy,
   values in [0, 1]). With ``onset_negatives`` the onset frames join as examples with no AU.
   Training is full-batch Adam for ``epochs`` steps, seeded by ``random_state``.

The runner hands ``fit`` the training rows' ``aus`` column (:attr:`fit_targets`) and strips it from
the table given to ``transform``, so a test row's AU annotation is as invisible as its label.

Output (72 values): the 24 head outputs (12 intensities, then 12 detections) at the onset, at the
apex, and apex minus onset (:meth:`AULibreFace.feature_names`). With one checkpoint only, the other
head's 36 columns are zero.
"""
from __future__ import annotations

import hashlib
import json
import re
import threading

import numpy as np

from ...errors import ConfigError, DataError
from .._util import field, keep_params, sample_name
from ..base import FeatureExtractor
from .extractors import DeepExtractor, torch_threads
from .inputs import face_inputs, pool, region_weights
from .weights import WeightsInfo, cached_sha256, load_state_dict, parse_datasets

INTENSITY_AUS = (1, 2, 4, 5, 6, 9, 12, 15, 17, 20, 25, 26)
DETECTION_AUS = (1, 2, 4, 6, 7, 10, 12, 14, 15, 17, 23, 24)
HEADS = {"intensity": INTENSITY_AUS, "detection": DETECTION_AUS}
LIBREFACE_DATA = {"intensity": ("imagenet", "disfa"), "detection": ("imagenet", "bp4d")}
ENCODER_KEYS = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}
HEAD_KEYS = {"0": "fc1", "2": "bn", "4": "fc2"}
_KEY = re.compile(r"^(encoder|classifier)\.(\d+)\.(.+)$")


def au_sets(values, ids=None) -> list[set[int]]:
    """AU numbers per row from an ``aus`` column: tuples of ints (the loaders), ``"4+15"`` strings
    (the synthetic dataset, sheet text) or empty; a cell that cannot be read is a DataError naming the row."""
    from ...data.sheets import parse_aus

    out = []
    for k, value in enumerate(values):
        if value is None or (isinstance(value, float) and value != value):
            out.append(set())
        elif isinstance(value, str):
            try:
                out.append(set(parse_aus(value).aus))
            except ValueError as exc:
                who = f"sample {ids[k]}" if ids is not None else f"row {k}"
                raise DataError(f"{who}: cannot read its Action Units {value!r}: {exc}", column="aus") from None
        else:
            out.append({int(a) for a in np.asarray(value).ravel().tolist()})
    return out


def split_libreface(state: dict, path) -> tuple[dict, dict]:
    """A LibreFace state dict -> (encoder tensors under torchvision names, head tensors under fc1/bn/fc2)."""
    encoder, head = {}, {}
    for key, value in state.items():
        name = key.removeprefix("module.")
        match = _KEY.match(name)
        table = None if match is None else (ENCODER_KEYS if match.group(1) == "encoder" else HEAD_KEYS)
        if match is None or match.group(2) not in table:
            raise ConfigError(f"{path}: key {key!r} is not in LibreFace's ResNet-18 layout (encoder.0/1/4-7.*, "
                              "classifier.0/2/4.*); see the au-libreface key mapping in the README.")
        target = encoder if table is ENCODER_KEYS else head
        target[f"{table[match.group(2)]}.{match.group(3)}"] = value
    return encoder, head


def _libreface_encoder(info: WeightsInfo) -> dict:
    return split_libreface(load_state_dict(info.path, info.sha256), info.path)[0]


def _head_module(n_in: int, n_out: int, hidden: int, dropout: float):
    import torch
    from torch import nn

    class AUHead(nn.Module):
        def __init__(self):
            super().__init__()
            self.fc1 = nn.Linear(n_in, hidden)
            self.bn = nn.BatchNorm1d(hidden)
            self.drop = nn.Dropout(dropout)
            self.fc2 = nn.Linear(hidden, n_out)

        def forward(self, x):
            return torch.sigmoid(self.fc2(self.drop(self.bn(torch.relu(self.fc1(x))))))

    return AUHead()


_memo: dict = {}
_memo_lock = threading.Lock()


class AULibreFace(DeepExtractor):
    """LibreFace-style AU heads (12 DISFA intensities, 12 BP4D detections) at onset and apex, and their change.

    Parameters: ``intensity_checkpoint`` / ``detection_checkpoint`` (LibreFace ResNet-18 files; then
    ``backbone=resnet18``), else the heads are trained in each fold on the training rows' ``aus``
    with ``epochs`` (100), ``lr`` (1e-3), ``weight_decay`` (1e-4), ``hidden`` (128), ``dropout``
    (0.1) and ``onset_negatives`` (True); ``backbone`` (efficientnet-lite0 default), ``weights``,
    ``pretrained_on``, ``input_size``, ``align``, ``apex``, ``batch_size``, ``device``, ``n_jobs``,
    ``random_state`` as for ``resnet-fpf``. Output: 72 values (see the module doc).
    """

    stateless = False
    fit_targets = ("aus",)
    version = "1"
    owner = "au-libreface"

    def __init__(self, intensity_checkpoint=None, detection_checkpoint=None, backbone: str = "efficientnet-lite0",
                 weights="imagenet", pretrained_on=None, input_size: int = 224, align: str | None = "per-clip",
                 apex: str = "column", onset_negatives: bool = True, epochs: int = 100, lr: float = 1e-3,
                 weight_decay: float = 1e-4, hidden: int = 128, dropout: float = 0.1, batch_size: int = 32,
                 device: str = "cpu", n_jobs: int = -1, random_state: int = 0):
        keep_params(self, locals())

    # -- configuration ---------------------------------------------------------------------------
    def _checkpoints(self) -> dict[str, str]:
        return {head: path for head, path in (("intensity", self.intensity_checkpoint),
                                              ("detection", self.detection_checkpoint)) if path}

    def checkpoint_infos(self) -> dict[str, WeightsInfo]:
        """{head: WeightsInfo} of the LibreFace files given (empty when the heads are trained in folds)."""
        from pathlib import Path

        infos = {}
        for head, path in self._checkpoints().items():
            p = Path(str(path)).expanduser()
            if not p.is_file() or p.suffix.lower() not in (".pt", ".pth", ".safetensors"):
                raise ConfigError(f"au-libreface: {head}_checkpoint={path!r} is not an existing .pt/.pth/.safetensors file.")
            data = LIBREFACE_DATA[head] + parse_datasets(self.pretrained_on)
            infos[head] = WeightsInfo("resnet18", "file", str(p), cached_sha256(p), tuple(dict.fromkeys(data)))
        return infos

    def _check(self) -> int:
        size = self._check_common()
        if self._checkpoints():
            if self.backbone != "resnet18":
                raise ConfigError("au-libreface: LibreFace checkpoints hold a ResNet-18 encoder; pass backbone=resnet18.")
            if str(self.weights).lower() != "imagenet":
                raise ConfigError("au-libreface: weights is unused with LibreFace checkpoints (each brings its encoder); "
                                  "leave it at imagenet.")
        elif int(self.epochs) < 1 or float(self.lr) <= 0 or int(self.hidden) < 1 or not 0 <= float(self.dropout) < 1:
            raise ConfigError("au-libreface: epochs and hidden must be >= 1, lr > 0 and 0 <= dropout < 1.")
        return size

    @property
    def trained_on(self) -> tuple[str, ...]:
        infos = self.checkpoint_infos()
        if infos:
            return tuple(dict.fromkeys(d for info in infos.values() for d in info.trained_on))
        return self.weights_info().trained_on

    @property
    def untrained(self) -> bool:
        return not self._checkpoints() and self.weights_info().untrained

    def model_files(self) -> dict[str, str]:
        infos = self.checkpoint_infos()
        pinned = FeatureExtractor.model_files(self)
        if infos:
            return {**pinned, **{f"{head}:{info.path.rsplit('/', 1)[-1]}": info.sha256 for head, info in infos.items()}}
        return {**pinned, **self.weights_info().provenance()}

    def cache_token(self) -> str:
        infos = self.checkpoint_infos()
        if not infos:
            return super().cache_token()
        from ..base import FeatureExtractor
        from .device import resolve_device

        files = "/".join(f"{h}=sha256:{i.sha256}" for h, i in infos.items())  # the encoders come from these files
        return f"{FeatureExtractor.cache_token(self)}/{files}/device={resolve_device(self.device)}"

    def feature_names(self) -> list[str]:
        heads = [f"AU{a}_intensity" for a in INTENSITY_AUS] + [f"AU{a}_detection" for a in DETECTION_AUS]
        return [f"{h}_{when}" for when in ("onset", "apex", "delta") for h in heads]

    # -- embeddings (label-free, memoised per sample in this process) ------------------------------
    def _encoders(self) -> dict:
        """{head: Backbone} per head (checkpoints), or {"shared": Backbone} (trained in folds)."""
        from .backbones import shared_backbone
        from .device import resolve_device

        device = resolve_device(self.device)
        infos = self.checkpoint_infos()
        if infos:
            return {h: shared_backbone("resnet18", info, device, stride=32, loader=_libreface_encoder)
                    for h, info in infos.items()}
        return {"shared": self.backbone_model()}

    def _row_key(self, row, encoder_token: str) -> str:
        parts = {c: field(row, c) for c in ("sample_id", "frames", "onset", "apex", "offset", "n_frames")}
        parts.update(token=encoder_token, size=int(self.input_size), align=self.align, apex_policy=self.apex)
        return hashlib.sha256(json.dumps(parts, sort_keys=True, default=str).encode()).hexdigest()

    def _embeddings(self, X) -> dict[str, np.ndarray]:
        """{encoder: (n, 2, D)} onset and apex vectors of every row of ``X``."""
        import torch

        from .._util import merge_counts, n_workers, thread_map

        size = self._check()
        encoders = self._encoders()
        rows = list(X.itertuples(index=False))
        out = {}
        for name, model in encoders.items():
            token = f"{name}/{model.weights_info.token}/{model.stride}"
            keys = [self._row_key(r, token) for r in rows]
            with _memo_lock:
                have = {k: _memo[k] for k in keys if k in _memo}
            todo = [i for i, k in enumerate(keys) if k not in have]
            if todo:
                def prepare(row, stride=model.stride):
                    counts: dict = {}
                    onset, apex, landmarks = face_inputs(row, size, self.align, self.apex, self.owner, True, counts)
                    regions = region_weights(landmarks, size, size // 16) if stride == 16 else None
                    return (onset, apex, regions), counts

                results = thread_map(prepare, [rows[i] for i in todo], self.n_jobs)
                for _, counts in results:
                    merge_counts(self.counts_, counts)
                images = np.stack([img for (o, a, _), _ in results for img in (o, a)])
                maps = []
                with torch.inference_mode(), torch_threads(n_workers(self.n_jobs)):
                    for start in range(0, len(images), int(self.batch_size)):
                        batch = model.preprocess(images[start:start + int(self.batch_size)])
                        maps.append(model(batch).float().cpu().numpy())
                maps = np.concatenate(maps)
                if model.stride == 16:
                    regions = np.repeat(np.stack([r for (_, _, r), _ in results]), 2, axis=0)
                    vectors = pool(maps, regions)
                else:
                    vectors = maps.mean(axis=(2, 3)).astype(np.float64)
                vectors = vectors.reshape(len(todo), 2, -1)
                with _memo_lock:
                    if len(_memo) > 50_000:
                        _memo.clear()
                    for j, i in enumerate(todo):
                        _memo[keys[i]] = have[keys[i]] = vectors[j]
            out[name] = np.stack([have[k] for k in keys]) if keys else np.zeros((0, 2, model.out_channels))
        return out

    # -- fit / transform ---------------------------------------------------------------------------
    def fit(self, X, y=None, targets=None):
        """Load the checkpoints, or train the heads on ``targets["aus"]`` of these (training) rows.

        Without ``targets`` the ``aus`` column of ``X`` is used (the training rows' own annotations).
        """
        import torch

        self.check_columns(X)
        self._check()
        self.counts_ = {}
        infos = self.checkpoint_infos()
        if infos:
            self.heads_ = {}
            for head, info in infos.items():
                _, state = split_libreface(load_state_dict(info.path, info.sha256), info.path)
                fc1, fc2 = state.get("fc1.weight"), state.get("fc2.weight")
                if fc1 is None or fc2 is None or fc1.shape[1] != 512 or fc2.shape[0] != len(HEADS[head]):
                    raise ConfigError(f"{info.path}: LibreFace's {head} head maps 512 features to "
                                      f"{len(HEADS[head])} AUs; this file's does not.")
                module = _head_module(512, len(HEADS[head]), int(fc1.shape[0]), 0.0)
                module.load_state_dict(state, strict=True)
                self.heads_[head] = module.eval()
            self.mode_ = "checkpoint"
            self.scale_ = None
            return self
        column = targets["aus"] if targets is not None and "aus" in getattr(targets, "columns", ()) else (
            X["aus"] if "aus" in X.columns else None)
        if column is None:
            raise DataError("au-libreface trains its AU heads on the training rows' Action Units, and this dataset "
                            "has no 'aus' column", column="aus",
                            hint="Use a dataset with AU annotations (CASME II, SAMM, CAS(ME)^3), or LibreFace checkpoints "
                                 "(intensity_checkpoint=..., detection_checkpoint=...).")
        if len(column) != len(X):
            raise ConfigError(f"au-libreface: {len(column)} target rows for {len(X)} training rows.")
        sets = au_sets(list(column), ids=list(X["sample_id"]) if "sample_id" in X.columns else None)
        vectors = self._embeddings(X)["shared"]  # (n, 2, D)
        apex, onset = vectors[:, 1], vectors[:, 0]
        inputs = np.concatenate([apex, onset]) if self.onset_negatives else apex
        mean, std = inputs.mean(axis=0), inputs.std(axis=0)
        std[std < 1e-6] = 1.0
        self.scale_ = (mean, std)
        self.positives_ = {}
        self.heads_ = {}
        x = torch.from_numpy(((inputs - mean) / std).astype(np.float32))
        for k, (head, aus) in enumerate(HEADS.items()):
            target = np.array([[a in s for a in aus] for s in sets], np.float32).reshape(len(sets), len(aus))
            self.positives_.update({f"AU{a}": int(target[:, j].sum()) for j, a in enumerate(aus)})
            if self.onset_negatives:
                target = np.concatenate([target, np.zeros_like(target)])
            self.heads_[head] = self._train(x, torch.from_numpy(target), head, int(self.random_state) + k)
        self.mode_ = "trained"
        return self

    def _train(self, x, target, head: str, seed: int):
        import torch

        with torch.random.fork_rng(devices=[]), torch_threads(1):
            torch.manual_seed(seed)
            module = _head_module(x.shape[1], target.shape[1], int(self.hidden), float(self.dropout))
            optimiser = torch.optim.Adam(module.parameters(), lr=float(self.lr), weight_decay=float(self.weight_decay))
            module.train()
            for _ in range(int(self.epochs)):
                optimiser.zero_grad()
                out = module(x)
                if head == "intensity":
                    loss = torch.nn.functional.mse_loss(out, target)
                else:
                    loss = torch.nn.functional.binary_cross_entropy(out.clamp(1e-6, 1 - 1e-6), target)
                loss.backward()
                optimiser.step()
        return module.eval()

    def transform(self, X):
        import torch

        self.check_columns(X)
        if not hasattr(self, "heads_"):
            raise ConfigError("au-libreface must be fit before transform (on the training rows, with their AUs).")
        self.counts_ = {}
        if len(X) == 0:
            return np.zeros((0, 72))
        vectors = self._embeddings(X)
        values = []  # (n, 2, 24): onset / apex x (12 intensities, 12 detections)
        for head, aus in HEADS.items():
            if head not in self.heads_:  # one checkpoint only: the other head's AUs are absent
                values.append(np.zeros((len(X), 2, len(aus))))
                continue
            v = vectors["shared"] if "shared" in vectors else vectors[head]
            flat = v.reshape(-1, v.shape[-1])
            if self.scale_ is not None:
                flat = (flat - self.scale_[0]) / self.scale_[1]
            with torch.inference_mode(), torch_threads(1):
                out = self.heads_[head](torch.from_numpy(flat.astype(np.float32))).numpy().astype(np.float64)
            if head == "intensity" and self.mode_ == "checkpoint":
                out = np.clip(out * 5.0, 0.0, 5.0)
            values.append(out.reshape(len(X), 2, len(aus)))
        both = np.concatenate(values, axis=2)
        return np.concatenate([both[:, 0], both[:, 1], both[:, 1] - both[:, 0]], axis=1)

    def extract_one(self, row):  # pragma: no cover - stateful: transform is the entry point
        raise ConfigError(f"au-libreface is stateful; call fit then transform (sample {sample_name(row)}).")

    @classmethod
    def example_params(cls) -> dict:
        return {"weights": "none", "input_size": 64, "align": None, "backbone": "resnet18", "epochs": 20}
