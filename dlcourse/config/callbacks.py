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
# What Keras refuses only as it makes the callback, when the run has started (factor 1
# was a traceback and a failed run), or takes and then trains wrongly (a negative rate is
# gradient ascent); and what dlcourse does itself: a diverged run stops with status
# "diverged" and exit 3, where raise_error made it a traceback.
_KERAS_RULES = {
    "ReduceLROnPlateau": {
        "factor": (lambda value: 0 <= value < 1, "a number from 0 to below 1 (the rate is "
                                                 "multiplied by it)"),
        "min_lr": (lambda value: value >= 0, "a number >= 0"),
    },
    "TerminateOnNaN": {
        "raise_error": (lambda value: value is False, "false: dlcourse stops a run whose loss "
                                                      "becomes nan itself, as diverged"),
    },
}


class CallbackSpec(KerasSpec):
    """One Keras callback: `{EarlyStopping: {patience: 2}}`, or just `TerminateOnNaN`."""

    kind: ClassVar[str] = "callback"
    catalog_key: ClassVar[str] = "callbacks"
    module: ClassVar[str] = "keras.callbacks"
    example: ClassVar[str] = "{EarlyStopping: {patience: 2}}"

    @classmethod
    def check_name(cls, name: Any) -> None:
        _check_callback_name(name)

    @classmethod
    def checked(cls, name: str, args: dict[str, Any]) -> dict[str, Any]:
        checked = super().checked(name, args)
        for key, (rule, expected) in _KERAS_RULES.get(name, {}).items():
            if key in checked and not rule(checked[key]):
                value = checked[key]
                shown = str(value).lower() if isinstance(value, bool) else repr(value)
                raise cls.error(f"{name}.{key}", f"expected {expected}, got {shown}")
        return checked

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
