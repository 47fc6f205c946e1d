"""A shim that lets Keras 3's `fit` run under tf.distribute.MultiWorkerMirroredStrategy.

Keras 3 as shipped fails there twice (upstream keras-team/keras#20585):

1. `TensorFlowTrainer._maybe_symbolic_build` averages the first distributed batch across
   workers with `strategy.reduce`, only to learn the batch's shapes and dtypes; under
   MultiWorkerMirroredStrategy that raises "Attempt to convert a value (PerReplica...)
   to a Tensor". The shapes are all it needs, so we build from this worker's own first
   replica's values instead, with no communication at all.
2. `reduce_per_replica` averages each step's metrics with `strategy.reduce("MEAN", v,
   axis=0)`, which fails on scalars ("Invalid reduction dimension 0 for input with 0
   dimensions"). The single-machine branch of the same function means "average across
   replicas", which is `axis=None`; we do that across workers too.

Both replaced functions are private Keras code, so the shim is applied only to Keras
versions it was verified on (tests/test_distribution.py checks it end to end: identical
weights on both workers, the loss of a single-process run). Anything else is refused with
a message instead of being patched blindly.
"""

from __future__ import annotations

import keras

from dlcourse.errors import DistributionError

# Keras releases on which the two private functions were read and the shim verified.
VERIFIED_KERAS_VERSIONS = ("3.15.1",)


def apply_multi_worker_shim() -> None:
    """Patch Keras's TensorFlow trainer for multi-worker training (idempotent)."""
    if keras.version() not in VERIFIED_KERAS_VERSIONS:
        raise DistributionError(
            f"strategy multi_worker needs a small fix to Keras's private training code, "
            f"verified only on Keras {', '.join(VERIFIED_KERAS_VERSIONS)}; this is Keras "
            f"{keras.version()}. Install keras=={VERIFIED_KERAS_VERSIONS[-1]}, or check the "
            "fix in dlcourse/keras_multi_worker.py against this version, add it to "
            "VERIFIED_KERAS_VERSIONS and run tests/test_distribution.py."
        )
    from keras.src.backend.tensorflow import trainer

    if getattr(trainer.reduce_per_replica, "dlcourse_shim", False):
        return
    trainer.reduce_per_replica = _reduce_per_replica(trainer.reduce_per_replica)
    original_build = trainer.TensorFlowTrainer._maybe_symbolic_build
    trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build(original_build)


def _is_multi_worker(strategy) -> bool:
    import tensorflow as tf

    return isinstance(
        strategy, tf.distribute.MultiWorkerMirroredStrategy
    ) and strategy.extended._in_multi_worker_mode()


def _reduce_per_replica(original):
    from keras.src import tree

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and _is_multi_worker(strategy):
            return tree.map_structure(
                lambda value: strategy.reduce("MEAN", value, axis=None), values
            )
        return original(values, strategy, reduction)

    reduce_per_replica.dlcourse_shim = True
    return reduce_per_replica


def _maybe_symbolic_build(original):
    import tensorflow as tf
    from keras.src import tree

    def maybe_symbolic_build(self, iterator=None, data_batch=None):
        strategy = self._distribute_strategy
        if strategy is None or not _is_multi_worker(strategy):
            return original(self, iterator=iterator, data_batch=data_batch)

        def local(value):
            if isinstance(value, tf.distribute.DistributedValues):
                return strategy.experimental_local_results(value)[0]
            return value

        if iterator is not None:
            for _, _, batches in iterator:
                data_batch = tree.map_structure(local, next(batches))
                break
        with strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    return maybe_symbolic_build
