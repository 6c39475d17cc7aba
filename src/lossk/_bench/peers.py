"""The implementations compared in every row: lossk (allocating and with grad_out),
the NumPy reference and torch. Each turns (workload, inputs, threads) into a
zero-argument callable doing one fused forward + backward, for harness.measure.

runner() returns None when the peer does not apply (no row), or raises
harness.Skipped(reason) when it applies but cannot run (a row with the reason).
"""
from __future__ import annotations

import importlib
from dataclasses import replace
from typing import Callable

import numpy as np

from . import harness
from .workloads import Workload

LOSSK_GRAD_OUT = "lossk grad_out"   # the row every speed-up is computed for


class Peer:
    name = "?"

    def runner(self, wl: Workload, inputs: tuple, n_threads: int) -> Callable | None:
        raise NotImplementedError

    def protocol(self, proto: harness.Protocol) -> harness.Protocol:
        return proto


class Lossk(Peer):
    """lossk's C kernel. With grad_out, one gradient buffer is reused by every call:
    no allocation and no page faults in the timed path, which is how a training
    loop should call it. Without, each call allocates (and frees) its gradient."""

    def __init__(self, lossk, grad_out: bool) -> None:
        self.lossk, self.grad_out = lossk, grad_out
        self.name = LOSSK_GRAD_OUT if grad_out else "lossk"

    def runner(self, wl, inputs, n_threads):
        fn = getattr(self.lossk, wl.loss, None)
        if fn is None:
            raise harness.Skipped(f"lossk has no {wl.loss}")
        kw = dict(wl.kwargs, return_grad=True, n_threads=n_threads)
        if self.grad_out:
            kw["grad_out"] = grad_buffers(self.lossk, wl.loss, inputs)
        return lambda: fn(*inputs, **kw)


def differentiated(lossk, loss: str, n_given: int) -> list:
    """The positions among a loss's inputs of those it differentiates (registry),
    of the first `n_given` (a workload may leave optional inputs out: InfoNCE's
    negative_keys)."""
    spec = lossk._registry.SPECS[loss]
    return [i for i in (spec.inputs.index(name) for name in spec.grads) if i < n_given]


def grad_buffers(lossk, loss: str, inputs):
    """grad_out for `loss`: one buffer, or a tuple of one per differentiated input
    (a list of buffers for a list of arrays)."""
    bufs = tuple([np.empty_like(a) for a in inputs[i]] if isinstance(inputs[i], list) else np.empty_like(inputs[i])
                 for i in differentiated(lossk, loss, len(inputs)))
    return bufs[0] if len(bufs) == 1 else bufs


class NumpyReference(Peer):
    """lossk.reference: plain NumPy with hand-written gradients, single-threaded."""

    name = "numpy reference"
    MAX_CALL_S = 2.0   # slower calls are skipped: 9+ of them would dominate the run
    MIN_RUNS = 3       # slow but acceptable calls get fewer runs than the usual 9

    def __init__(self, lossk) -> None:
        self.reference = (getattr(lossk, "reference", None)
                          or importlib.import_module(lossk.__name__ + ".reference"))

    def runner(self, wl, inputs, n_threads):
        if n_threads != 1:      # NumPy's ufuncs are single-threaded: one row suffices
            return None
        fn = getattr(self.reference, wl.loss, None)
        if fn is None:
            raise harness.Skipped(f"lossk.reference has no {wl.loss}")
        return lambda: fn(*inputs, return_grad=True, **wl.kwargs)

    def protocol(self, proto):
        return replace(proto, min_runs=min(proto.min_runs, self.MIN_RUNS),
                       max_call_s=self.MAX_CALL_S)


class Torch(Peer):
    """torch CPU autograd: the workload's torch_loss, then backward(). The gradient
    is cleared (set to None) at the start of each call, as optimizer.zero_grad()
    does, so every call allocates and frees it, like the allocating lossk call."""

    name = "torch"

    def __init__(self) -> None:
        import torch  # ImportError: no torch peer
        self.torch = torch

    def runner(self, wl, inputs, n_threads):
        if wl.torch_loss is None:
            return None
        self.torch.set_num_threads(n_threads)
        import lossk
        tensors = [self.tensor(x) for x in inputs]
        # the differentiated tensors; a list of arrays (penalties) differentiates each
        diff = [t for i in differentiated(lossk, wl.loss, len(tensors))
                for t in (tensors[i] if isinstance(tensors[i], list) else [tensors[i]])]
        for t in diff:
            t.requires_grad_()

        def call():
            for t in diff:
                t.grad = None
            loss = wl.torch_loss(*tensors)
            loss.backward()
            return loss

        return call

    def tensor(self, x):
        """An input as torch sees it: arrays as tensors, lists element by element,
        scalars as they are."""
        if isinstance(x, list):
            return [self.tensor(a) for a in x]
        return self.torch.from_numpy(x) if isinstance(x, np.ndarray) else x


def jax_arrays(jax, inputs) -> list:
    """A workload's NumPy inputs as JAX arrays, int64 class indices as int32: JAX
    computes in 32 bits unless x64 is enabled."""
    return [jax.device_put(x.astype(np.int32) if x.dtype == np.int64 else x) for x in inputs]


class Jax(Peer):
    """JAX on the CPU: jax.jit(jax.value_and_grad(workload.jax_loss)), compiled by the
    untimed first call; each call waits for its gradient (block_until_ready). XLA sizes
    its thread pool once per process, to every CPU the process may use, and has no
    per-call setting: JAX has a row only at that thread count."""

    name = "jax"

    def __init__(self) -> None:
        import jax  # ImportError: no JAX peer
        self.jax = jax
        self.threads = harness.usable_cpus()

    def runner(self, wl, inputs, n_threads):
        if wl.jax_loss is None or n_threads != self.threads:
            return None
        arrays = jax_arrays(self.jax, inputs)
        fn = self.jax.jit(self.jax.value_and_grad(wl.jax_loss))

        def call():
            value, grad = fn(*arrays)
            grad.block_until_ready()
            return value

        return call


def available(lossk) -> tuple[list[Peer], list[str]]:
    """The peers to run, in run order, and notes about the ones missing.

    torch runs last in each case: its OpenMP threads keep spinning for a while
    after its regions end, which would steal the cores of whatever runs next
    (the next case's warm-up absorbs that)."""
    peers: list[Peer] = [Lossk(lossk, grad_out=True), Lossk(lossk, grad_out=False)]
    notes = []
    try:
        peers.append(NumpyReference(lossk))
    except ImportError as e:
        notes.append(f"numpy reference unavailable: {e}")
    try:
        peers.append(Jax())
    except ImportError as e:
        notes.append(f"jax unavailable: {e}")
    try:
        peers.append(Torch())
    except ImportError as e:
        notes.append(f"torch unavailable: {e}")
    return peers, notes


def loss_value(result) -> float:
    """The loss of a runner's return value: (loss, grad) from lossk, a tensor from torch,
    a JAX array from JAX."""
    if isinstance(result, tuple):
        result = result[0]
    if hasattr(result, "detach"):   # a torch tensor that requires grad
        result = result.detach()
    return float(result)
