"""Fold-batched training in torch: the folds of a cross-validation train together, each as if alone.

Why: a LOSO run of a small net is 68 small trainings of the same module. ``TorchClassifier.fit_folds``
runs every fold's ordinary ``_fit`` (inner split, early stopping, refit, search: unchanged) in its own
thread, and the folds meet at every epoch (:class:`LockStep`): when all live folds wait, one
:func:`run_epoch` trains the epoch of all of them, step by step. Within a step, the folds whose
mini-batches have the same size are computed together in chunks of ``fold_batch`` folds:

* a chunk of one fold is the plain step (``net(X[idx])``, backward, the fold's own optimiser step);
  chunks run in parallel on ``jobs`` threads (torch releases the GIL inside its kernels);
* a larger chunk stacks the folds' parameters (``torch.stack`` of each fold's own leaves, so the
  gradients land on each fold's parameters) and calls the module once through
  ``torch.func.vmap`` / ``functional_call`` (on a GPU, one launch for all folds).

What keeps each fold its own: every fold builds its module right after seeding with its own seed,
draws its batch order from its own generator, its dropout masks from another generator of its own
(:class:`FoldDropout`, also when trained alone, so that fold-batched and alone draw the same
numbers), computes its loss on its own rows with its own class weights, and steps its own optimiser.
Ragged folds (different sizes, so a different last batch or number of batches) are exactly as in
the per-fold loop: a step only groups folds whose batches have the same size, and a fold with fewer
steps simply sits out the rest of the epoch. A chunk of one fold runs exactly the operations of a
fold trained alone, so its predictions are bit-for-bit equal; a vmapped chunk computes the same
function with other kernels (a grouped convolution, batched matrix products) and agrees within
float32 rounding (the tolerance is tested in ``tests/test_nets.py``).
"""
from __future__ import annotations

import threading
from contextlib import contextmanager

import torch
from torch import nn

_local = threading.local()


# ---------------------------------------------------------------------- dropout with a fold's own stream
class FoldDropout(nn.Dropout):
    """``nn.Dropout`` whose mask comes from its fold's generator (not torch's global one).

    The mask is ``rand >= p`` scaled by ``1 / (1 - p)``, drawn from ``generator`` in call order;
    inside a vmapped chunk the masks were drawn beforehand, fold by fold from each fold's generator,
    and are taken in the same call order (``_local.masks``).
    """

    def __init__(self, p: float, generator):
        super().__init__(p)
        self.generator = generator

    def forward(self, x):
        if not self.training or self.p == 0:
            return x
        probe = getattr(_local, "probe", None)
        if probe is not None:  # a shape probe (meta tensors): record, draw nothing
            probe.append((self.p, tuple(x.shape)))
            return x
        masks = getattr(_local, "masks", None)
        if masks is not None:
            return x * masks.pop(0)
        return x * dropout_mask(self.p, tuple(x.shape), self.generator, x.dtype, x.device)


def dropout_mask(p: float, shape: tuple, generator, dtype, device):
    """Keep each element with probability ``1 - p`` and scale it by ``1 / (1 - p)``, as ``nn.Dropout``."""
    if p >= 1:
        return torch.zeros(shape, dtype=dtype, device=device)
    keep = torch.rand(shape, generator=generator, device=device) >= p
    return keep.to(dtype).div_(1.0 - p)


def _dropout_sites(net) -> list[tuple[nn.Module, str, nn.Module]]:
    """(parent, attribute, child) of every ``nn.Dropout`` / ``FoldDropout`` in the module tree."""
    sites = []
    for parent in net.modules():
        for name, child in parent.named_children():
            if type(child) in (nn.Dropout, FoldDropout):
                sites.append((parent, name, child))
    return sites


def random_modules(net) -> list[str]:
    """Modules that draw random numbers in training other than ``nn.Dropout`` (they would use torch's
    global generator, which folds trained in threads share): fold batching is refused for such nets."""
    kinds = (nn.modules.dropout._DropoutNd, nn.RReLU)
    return sorted({type(m).__name__ for m in net.modules() if isinstance(m, kinds)
                   and type(m) not in (nn.Dropout, FoldDropout)})


class FoldDropouts:
    """Swaps a net's ``nn.Dropout`` layers for :class:`FoldDropout` during training, and back.

    The net given back (``release``) holds plain ``nn.Dropout`` layers again, so fitted models
    pickle and predict as before.
    """

    def __init__(self, net, generator):
        self.net, self.generator = net, generator
        self.plain = _dropout_sites(net)
        self.fold = [FoldDropout(child.p, generator) for _, _, child in self.plain]
        self.installed = False

    def install(self) -> None:
        if not self.installed:
            for (parent, name, _), layer in zip(self.plain, self.fold):
                layer.train(parent.training)
                setattr(parent, name, layer)
            self.installed = True

    def release(self):
        if self.installed:
            for parent, name, child in self.plain:
                child.train(getattr(parent, name).training)
                setattr(parent, name, child)
            self.installed = False
        return self.net

    def draw(self, sites: list[tuple], dtype, device) -> list:
        """Masks for the probed dropout calls ``(p, shape)``, in call order, from this fold's generator."""
        return [dropout_mask(p, shape, self.generator, dtype, device) for p, shape in sites]


# ---------------------------------------------------------------------- lock-step epochs across fold threads
class LockStep:
    """Where the fold threads of ``fit_folds`` meet: an epoch runs when every live fold waits for it.

    Members are the fold threads (``join`` / ``leave``); a trainer created in a member thread sends
    its ``epoch()`` here. The epoch of all waiting trainers runs in the thread that arrives last (all
    others are blocked), in fold order, so what is batched with what never depends on timing.
    """

    def __init__(self, members: int, fold_batch: int, jobs: int):
        self.cond = threading.Condition()
        self.active, self.waiting, self.generation = int(members), [], 0
        self.fold_batch, self.jobs = int(fold_batch), int(jobs)
        self.error: BaseException | None = None
        self.pool = None

    @contextmanager
    def member(self, rank: int):
        """Run the body (one fold's fit) as member ``rank`` of this lock-step."""
        _local.lockstep, _local.rank = self, rank
        try:
            yield
        finally:
            _local.lockstep = None
            with self.cond:
                self.active -= 1
                self._maybe_run()

    def epoch(self, trainer) -> None:
        with self.cond:
            if self.error is not None:
                raise RuntimeError("a fold trained together with this one failed") from self.error
            generation = self.generation
            self.waiting.append(trainer)
            self._maybe_run()
            while self.generation == generation:
                self.cond.wait()
            if self.error is not None:
                raise self.error

    def _maybe_run(self) -> None:
        if not self.waiting or len(self.waiting) < self.active:
            return
        batch, self.waiting = sorted(self.waiting, key=lambda t: t.rank), []
        try:
            run_epoch(batch, self.fold_batch, self.pool)
        except BaseException as exc:  # delivered to every waiting fold
            self.error = exc
        self.generation += 1
        self.cond.notify_all()


def current_lockstep():
    """The lock-step of the fold thread calling (None outside ``fit_folds``), and the fold's rank."""
    return getattr(_local, "lockstep", None), getattr(_local, "rank", 0)


# ---------------------------------------------------------------------- one epoch of several folds
def run_epoch(trainers: list, fold_batch: int = 1, pool=None) -> None:
    """One epoch of every trainer: step ``j`` of all folds, then step ``j + 1``; see the module docstring."""
    plans = [t.batches() for t in trainers]
    for t in trainers:
        t.begin_epoch()
    for j in range(max((len(p) for p in plans), default=0)):
        groups: dict[int, list] = {}
        for t, plan in zip(trainers, plans):
            if j < len(plan):
                groups.setdefault(len(plan[j]), []).append((t, plan[j]))
        chunks = []
        for members in groups.values():
            size = max(1, fold_batch)
            chunks += [members[i:i + size] for i in range(0, len(members), size)]
        if pool is not None and len(chunks) > 1:
            list(pool.map(_run_chunk, chunks))
        else:
            for chunk in chunks:
                _run_chunk(chunk)


def _run_chunk(chunk: list) -> None:
    if len(chunk) == 1:
        trainer, idx = chunk[0]
        trainer.step(idx)
    else:
        vmapped_step(chunk)


def _dropout_shapes(net, x_shape: tuple, device) -> list[tuple]:
    """``(p, input shape)`` of every dropout call, in call order, for one fold's batch (meta-tensor probe)."""
    from torch.func import functional_call

    params = {k: torch.empty_like(v, device="meta") for k, v in net.named_parameters()}
    buffers = {k: torch.empty_like(v, device="meta") for k, v in net.named_buffers()}
    _local.probe = shapes = []
    try:
        with torch.no_grad():
            functional_call(net, (params, buffers), (torch.empty(x_shape, device="meta"),))
    finally:
        _local.probe = None
    return shapes


def vmapped_step(chunk: list) -> None:
    """One optimiser step of several folds whose batches have the same size, as one vmapped call."""
    from torch.func import functional_call, vmap

    trainers = [t for t, _ in chunk]
    base = trainers[0].net
    nets = [t.net for t in trainers]
    names = [k for k, _ in base.named_parameters()]
    per_fold = [dict(n.named_parameters()) for n in nets]
    params = {k: torch.stack([p[k] for p in per_fold]) for k in names}
    buffers_per_fold = [dict(n.named_buffers()) for n in nets]
    buffer_names = list(buffers_per_fold[0])
    buffers = {k: torch.stack([b[k] for b in buffers_per_fold]) for k in buffer_names}
    xb = torch.stack([t.X[idx] for t, idx in chunk])
    key = tuple(xb.shape[1:])
    shapes = trainers[0].probe_cache.get(key)
    if shapes is None:
        shapes = trainers[0].probe_cache[key] = _dropout_shapes(base, key, xb.device)
    mask_lists = [t.dropouts.draw(shapes, xb.dtype, xb.device) for t in trainers]
    masks = [torch.stack([m[i] for m in mask_lists]) for i in range(len(shapes))]

    def forward(p, b, x, fold_masks):
        _local.masks = list(fold_masks)
        try:
            return functional_call(base, (p, b), (x,))
        finally:
            _local.masks = None

    logits = vmap(forward, randomness="error")(params, buffers, xb, masks)
    loss = sum(t.loss_fn(logits[i], t.y[idx]) for i, (t, idx) in enumerate(chunk))
    for t in trainers:
        t.optimizer.zero_grad(set_to_none=True)
    loss.backward()
    with torch.no_grad():
        for i, b in enumerate(buffers_per_fold):
            for k in buffer_names:
                b[k].copy_(buffers[k][i])
    for t in trainers:
        t.optimizer.step()
