"""Callback specs: a Keras callback by class name under `fit.callbacks`, checked like layers.

`- EarlyStopping: {monitor: val_loss, patience: 2, restore_best_weights: true}` names
`keras.callbacks.EarlyStopping`. Its arguments are checked against Keras's own signature
(dlcourse.config.keras_catalog); what the callback monitors is checked against what the
config's fit logs, by the Config (dlcourse.config.sections). Callbacks that write files,
run code or talk to the network are refused with what dlcourse does instead.
"""

from __future__ import annotations

from typing import Any, ClassVar

from dlcourse.config.keras_catalog import catalog
from dlcourse.config.layers import KerasSpec
from dlcourse.config.problems import did_you_mean
from dlcourse.config.vocabulary import REFUSED_CALLBACKS, SUPPORTED_CALLBACKS

# Callbacks that watch a logged value, and so must name one the fit logs.
MONITORING = ("EarlyStopping", "ReduceLROnPlateau")


class CallbackSpec(KerasSpec):
    """One Keras callback: `{EarlyStopping: {patience: 2}}`, or just `TerminateOnNaN`."""

    kind: ClassVar[str] = "callback"
    catalog_key: ClassVar[str] = "callbacks"
    module: ClassVar[str] = "keras.callbacks"
    example: ClassVar[str] = "{EarlyStopping: {patience: 2}}"

    @classmethod
    def check_name(cls, name: Any) -> None:
        _check_callback_name(name)

    @property
    def monitor(self) -> str | None:
        """The logged value it watches (Keras's default when the config doesn't say)."""
        if self.name not in MONITORING:
            return None
        return self.args.get("monitor", catalog()["callbacks"][self.name]["monitor"]["default"])


def _check_callback_name(name: Any) -> None:
    if isinstance(name, str) and name in SUPPORTED_CALLBACKS:
        return
    if isinstance(name, str) and name in REFUSED_CALLBACKS:
        raise CallbackSpec.error("", f"{name} can't be used in a config: {REFUSED_CALLBACKS[name]}.")
    supported = sorted(SUPPORTED_CALLBACKS)
    if isinstance(name, str) and name in catalog()["callback_names"]:
        raise CallbackSpec.error("", f"{name} is not among the callbacks dlcourse supports "
                                 f"({', '.join(supported)})")
    raise CallbackSpec.error("", f"unknown Keras callback {name!r}"
                             f"{did_you_mean(str(name), supported)}; expected one of "
                             f"{', '.join(supported)}")
