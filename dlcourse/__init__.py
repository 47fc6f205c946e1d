"""dlcourse: the lecture's models from YAML, trained and evaluated with one command.

The Python API (dlcourse.api) is the product behind the CLI: `dlcourse.train(...)`,
`dlcourse.evaluate(...)`, and the rest listed in `__all__`. Importing dlcourse is fast:
TensorFlow is imported only when a function that needs it is called.
"""

from dlcourse.version import __version__
from dlcourse.api import (
    configs,
    evaluate,
    export,
    load_config,
    lr_find,
    predict,
    resume,
    resume_tuning,
    train,
    tune,
)

__all__ = [
    "__version__", "configs", "evaluate", "export", "load_config", "lr_find", "predict", "resume",
    "resume_tuning", "train", "tune",
]


def __dir__() -> list[str]:
    return list(__all__)
