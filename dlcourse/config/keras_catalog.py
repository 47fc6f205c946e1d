"""Facts about the installed Keras that configs are checked against, read without TensorFlow.

`validate` must answer in well under a second, and importing Keras costs several. So the
facts a config is checked against are read from Keras once per Keras version: each
supported layer's arguments (from its signature and its docstring: which are required,
their defaults, the kind of value each takes, the choices of string arguments), and the
names in Keras's registries of activations, initializers, regularizers, constraints,
losses, metrics, optimizers, schedules and callbacks. They are stored as JSON: in the
package for the Keras version dlcourse pins, otherwise in the user cache, written by a
child process (`python -m dlcourse.config.keras_catalog`) so the process that validates
never imports TensorFlow.

Run this module to write the catalog of the installed Keras:
    python -m dlcourse.config.keras_catalog --output dlcourse/config/keras_catalog.json
"""

from __future__ import annotations

import importlib.metadata
import inspect
import json
import os
import re
import subprocess
import sys
import tempfile
from functools import lru_cache
from pathlib import Path
from typing import Any

from dlcourse.cache import cache_file, used
from dlcourse.config.vocabulary import (
    CALLBACK_ARGUMENT_KINDS,
    COMPILE_METRIC_NAMES,
    NOT_BY_NAME,
    REFUSED_CALLBACKS,
    SUPPORTED_CALLBACKS,
    SUPPORTED_LAYERS,
    WRAPPER_ARGUMENTS,
)
from dlcourse.errors import ConfigError

# Bump when the catalog's content changes, so older cached files are rebuilt.
CATALOG_FORMAT = 7
SHIPPED = Path(__file__).with_name("keras_catalog.json")
# Layer.__init__ takes these through **kwargs (Keras's base class pops them).
BASE_LAYER_ARGUMENTS = {
    "name": {"kind": "string", "nullable": True},
    "dtype": {"kind": "string", "nullable": True,
              "choices": ["float16", "float32", "float64", "bfloat16", "mixed_float16",
                          "mixed_bfloat16", "int32", "int64"]},
    "trainable": {"kind": "bool"},
    "autocast": {"kind": "bool"},
    "input_shape": {"kind": "ints", "nullable": True},
    "input_dim": {"kind": "int", "positive": True, "nullable": True},
}
_QUOTED = re.compile(r'["\'`]{1,2}([A-Za-z_][A-Za-z0-9_]*)["\'`]{1,2}')


def installed_keras_version() -> str | None:
    try:
        return importlib.metadata.version("keras")
    except importlib.metadata.PackageNotFoundError:
        return None


@lru_cache(maxsize=None)
def catalog() -> dict[str, Any]:
    """The catalog of the installed Keras: shipped, cached, or read now in a child process."""
    version = installed_keras_version()
    for path in (SHIPPED, _cached_path(version)):
        saved = _read(path)
        if saved and saved.get("keras") == version and saved.get("format") == CATALOG_FORMAT:
            if path != SHIPPED:
                used(path)  # the cache keeps what is used
            return saved
    return _build_in_child(_cached_path(version))


def _cached_path(version: str | None) -> Path:
    return cache_file("keras-catalog", f"{version}-{CATALOG_FORMAT}", ".json")


def _read(path: Path) -> dict[str, Any] | None:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None


def _build_in_child(path: Path) -> dict[str, Any]:
    print(
        f"Reading the layer signatures of Keras {installed_keras_version()} once "
        f"(cached in {path.parent}); this takes a few seconds.",
        file=sys.stderr,
    )
    path.parent.mkdir(parents=True, exist_ok=True)
    descriptor, partial = tempfile.mkstemp(dir=path.parent, prefix=".keras-catalog.")
    os.close(descriptor)
    environment = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    finished = subprocess.run(
        [sys.executable, "-m", "dlcourse.config.keras_catalog", "--output", partial],
        capture_output=True, text=True, env=environment, timeout=600,
    )
    built = _read(Path(partial)) if finished.returncode == 0 else None
    if built is None:
        Path(partial).unlink(missing_ok=True)
        raise ConfigError(
            "Can't read Keras's layer signatures to check the config: "
            f"`python -m dlcourse.config.keras_catalog` failed ({finished.stderr.strip()[-300:]})."
        )
    os.replace(partial, path)
    return built


# --------------------------------------------------------------------------- building


def build() -> dict[str, Any]:
    """Read the catalog from the installed Keras (imports Keras and TensorFlow)."""
    import keras

    from dlcourse.layers import OWN_LAYERS

    classes = {name: getattr(keras.layers, name) for name in dir(keras.layers)
               if name[:1].isupper()}
    classes.update(OWN_LAYERS)
    return {
        "format": CATALOG_FORMAT,
        "keras": keras.version(),
        "layer_names": sorted(classes),
        "layers": {
            name: _layer_arguments(layer_class)
            for name, layer_class in sorted(classes.items()) if name in SUPPORTED_LAYERS
        },
        "activations": _registry_names(keras.activations),
        "initializers": _registry(keras.initializers),
        "regularizers": _registry(keras.regularizers),
        "constraints": _registry(keras.constraints),
        # Lower-case names only: the task is told from them (mse means regression).
        "losses": [n for n in _usable_names(keras.losses, keras.losses.get) if n.islower()],
        "metrics": sorted({*_usable_names(keras.metrics, keras.metrics.get),
                           *COMPILE_METRIC_NAMES}),
        "optimizers": _optimizers(keras),
        "schedules": {
            name: _described_arguments(getattr(keras.optimizers.schedules, name), base={})
            for name in dir(keras.optimizers.schedules)
            if name[:1].isupper() and name != "LearningRateSchedule"
        },
        "callbacks": {
            name: {**_described_arguments(getattr(keras.callbacks, name), base={}),
                   **CALLBACK_ARGUMENT_KINDS.get(name, {})}
            for name in sorted(SUPPORTED_CALLBACKS)
        },
        "callback_names": sorted(
            {n for n in dir(keras.callbacks) if n[:1].isupper()} | set(REFUSED_CALLBACKS)
        ),
    }


def _layer_arguments(layer_class) -> dict[str, Any]:
    return _described_arguments(layer_class, base=BASE_LAYER_ARGUMENTS)


def _described_arguments(keras_class, base: dict[str, Any]) -> dict[str, Any]:
    """Each argument of a Keras class, described from its signature and docstring;
    `base` adds what its base class takes through **kwargs."""
    documented = _documented_arguments(inspect.getdoc(keras_class) or "")
    signature = inspect.signature(keras_class.__init__)
    arguments: dict[str, Any] = {}
    takes_kwargs = False
    for name, parameter in list(signature.parameters.items())[1:]:
        if parameter.kind is parameter.VAR_KEYWORD:
            takes_kwargs = True
            continue
        if parameter.kind is parameter.VAR_POSITIONAL:
            continue
        arguments[name] = _describe_argument(name, parameter.default, documented.get(name, ""))
    for name in _ALSO_PER_CHANNEL.get(keras_class.__name__, ()):
        if arguments.get(name, {}).get("kind") == "number":
            arguments[name]["kind"] = "numbers"
    if takes_kwargs:
        for name, described in base.items():
            arguments.setdefault(name, described)
    return arguments


# Arguments whose docs say "Float" but which Keras also takes one per channel (Rescaling
# reshapes a list to the channels): scale: [0.0171, 0.0175, 0.0174] was refused.
_ALSO_PER_CHANNEL = {"Rescaling": ("scale", "offset")}


def _documented_arguments(doc: str) -> dict[str, str]:
    """The `Args:` section of a Keras docstring: each argument's text, on one line."""
    found: dict[str, str] = {}
    lines = doc.splitlines()
    try:
        start = next(i for i, line in enumerate(lines) if line.strip() == "Args:")
    except StopIteration:
        return found
    indent = None
    current = None
    for line in lines[start + 1:]:
        if not line.strip():
            continue
        width = len(line) - len(line.lstrip())
        if indent is None:
            indent = width
        if width < indent:
            break
        match = re.match(r"\s*\**(\w+)\**\s*:\s*(.*)$", line)
        if width == indent and match:
            current = match[1]
            found[current] = match[2]
        elif width == indent:
            break  # the next section (Call arguments:, Examples:) at the same level
        elif current:
            found[current] += " " + line.strip()
    return found


def _describe_argument(name: str, default: Any, doc: str) -> dict[str, Any]:
    described: dict[str, Any] = {}
    required = default is inspect.Parameter.empty
    if required:
        described["required"] = True
        default = None
    elif default is None:
        described["nullable"] = True
    else:
        described["default"] = _jsonable(default)
    kind = _kind(name, default, doc)
    axis = name in ("axis", "axes")
    if axis and kind == "int" and re.search(r"\[\d|\blist\b|\btuple\b", doc):
        kind = "ints"  # MaxNorm's: "set `axis` to `[0, 1, 2]`"
    described["kind"] = kind
    if axis or re.search(r"\bbe -1\b", doc) or name == "seed":
        # -1 counts from the end, or (Reshape) is inferred; a seed is any integer. Every
        # other integer is a size, a count or a rank, >= 0.
        described["signed"] = True
    # A required size (units, filters, input_dim) is positive whether or not its doc says
    # so, and so is a step or window (pooling strides of 0 divided by zero as Keras built).
    elif kind in ("int", "ints") and (required or "positive" in _first_sentence(doc)
                                      or name in _STEPS_AND_WINDOWS):
        described["positive"] = True
    if kind == "number" and re.search(r"between 0 and 1|in \[0, 1\)", doc.lower()):
        described["fraction"] = True
    keys = _mapped_keys(doc)
    if keys:  # BatchNormalization's renorm_clipping: {rmax: 3} (5 was a traceback in fit)
        described.update(kind="number_map", keys=keys)
    if name == "initial_learning_rate":
        described["non_negative"] = True  # -5 trains backwards; 0 starts a warmup
    if kind == "string":
        choices = _choices(doc, default)
        if choices and "None" in choices:
            choices.remove("None")
            described["nullable"] = True
        if choices:
            described["choices"] = choices
    return described


def _mapped_keys(doc: str) -> list[str] | None:
    """The keys of a dictionary of numbers, as a docstring names them: "Dictionary, ...
    Maps optional keys `"rmax"`, `"rmin"`, `"dmax"` to floats"."""
    found = re.search(r"maps optional keys (.+?) to floats", doc, re.IGNORECASE)
    if not doc.lower().startswith("dictionary") or not found:
        return None
    return re.findall(r"[\"'](\w+)[\"']", found[1]) or None


def _first_sentence(doc: str) -> str:
    return doc.split(". ")[0].lower()


def _kind(name: str, default: Any, doc: str) -> str:
    if name in WRAPPER_ARGUMENTS:
        return "layer"
    for suffix, kind in (("activation", "activation"), ("_initializer", "initializer"),
                         ("_regularizer", "regularizer"), ("_constraint", "constraint")):
        if name.endswith(suffix):
            return kind
    documented = _kind_from_doc(doc)
    several = re.search(r"\b(tuple|list)", _first_sentence(doc)) is not None
    if isinstance(default, bool):
        return "bool"
    if isinstance(default, (int, tuple, list)) and documented == "ints":
        return "ints"  # strides=1 also takes (2, 2)
    if isinstance(default, int):
        return "int"
    if isinstance(default, float):
        return "numbers" if several else "number"
    if isinstance(default, str):
        # use_cudnn="auto" also takes true or false
        if re.search(r"\b(true|false|bool|boolean|whether)\b", doc.lower()):
            return "any"
        return "string"
    if isinstance(default, (tuple, list)):
        return "ints" if all(_all_ints(item) for item in default) else "any"
    return documented


def _kind_from_doc(doc: str) -> str:
    """The kind of value a docstring's first words name: `int or tuple of 2 ints, ...`,
    or else its second sentence's ("Target shape. Tuple of integers, ...")."""
    kind = _kind_from_sentence(_first_sentence(doc))
    rest = doc.split(". ", 1)[1:]
    return _kind_from_sentence(_first_sentence(rest[0])) if kind == "any" and rest else kind


def _kind_from_sentence(first: str) -> str:
    text = re.sub(r"^((an?|the|optional)\s+)?(python\s+)?", "", first.strip())
    several = re.search(r"\b(tuple|list)", first) is not None
    if text.startswith(("int", "positive int", "non-negative int", "single int")):
        return "ints" if several else "int"
    if text.startswith(("tuple of int", "list of int", "tuple/list of int")):
        return "ints"
    if re.match(r"[\w-]* ?(matrix|array|tensor)", text.replace("floating-point", "float")):
        return "any"  # Embedding's weights: "floating-point matrix of size (input_dim, ...)"
    if text.startswith(("float", "number")):
        return "numbers" if several else "number"
    if text.startswith(("bool", "boolean")):
        return "bool"
    if text.startswith(("string", "str,", "str ")) and not several:
        return "string"
    return "any"


def _choices(doc: str, default: Any) -> list[str] | None:
    """A string argument's values as its docstring quotes them: those of the first
    sentence when it lists them (later ones are often examples), else of the whole text.
    With a default, it must be among them, or the quotes aren't a list of values."""
    for text in (doc.split(". ")[0], doc):
        quoted = list(dict.fromkeys(_QUOTED.findall(text)))
        if len(quoted) < 2:
            continue
        if isinstance(default, str) and default.lower() not in [q.lower() for q in quoted]:
            continue
        return quoted
    return None


def _all_ints(value: Any) -> bool:
    if isinstance(value, (tuple, list)):
        return all(_all_ints(item) for item in value)
    return isinstance(value, int) and not isinstance(value, bool)


def _jsonable(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_jsonable(item) for item in value]
    if value is None or isinstance(value, (bool, int, float, str, list)):
        return value
    return repr(value)


def _arguments(function) -> dict[str, Any]:
    signature = inspect.signature(function)
    return {
        name: ({"required": True} if parameter.default is parameter.empty
               else {"default": _jsonable(parameter.default)})
        for name, parameter in list(signature.parameters.items())[1:]
        if parameter.kind not in (parameter.VAR_KEYWORD, parameter.VAR_POSITIONAL)
    }


def _registry_names(module) -> list[str]:
    """Every name the module's get() resolves, e.g. 'relu', 'glorot_uniform', 'HeNormal'."""
    names = []
    for name in sorted(_all_objects(module)):
        if name in NOT_BY_NAME or name.lower() in ("initializer", "regularizer", "constraint"):
            continue
        try:
            module.get(name)
        except Exception:  # whatever Keras raises for a name it can't resolve by itself
            continue
        names.append(name)
    return names


def _registry(module) -> dict[str, Any]:
    """A registry of initializers, regularizers or constraints: the names its get() takes
    alone ('he_normal', 'L2'), and each class with its arguments described as a layer's
    are, for `{ClassName: {argument: value}}` (Constant has no name get() takes, but is a
    class with arguments)."""
    base = {"initializer", "regularizer", "constraint"}
    classes = {name: value for name, value in _all_objects(module).items()
               if inspect.isclass(value) and name[:1].isupper() and name.lower() not in base}
    return {"names": _registry_names(module),
            "classes": {name: _numbers_as_numbers(_described_arguments(value, base={}))
                        for name, value in sorted(classes.items())}}


def _numbers_as_numbers(arguments: dict[str, Any]) -> dict[str, Any]:
    """A registry class's integer default is a number all the same (MaxNorm's max_value=2
    also takes 2.5), but for a seed or an axis."""
    return {name: ({**described, "kind": "number"}
                   if described["kind"] == "int" and name not in ("seed", "axis") else described)
            for name, described in arguments.items()}


def _usable_names(module, get) -> list[str]:
    names = []
    for name in sorted(_all_objects(module)):
        if name in NOT_BY_NAME or name.lower() in NOT_BY_NAME:
            continue
        try:
            value = get(name)
            if inspect.isclass(value):
                value()
        except Exception:  # needs arguments, or isn't a usable object
            continue
        if callable(value):
            names.append(name)
    return names


def _all_objects(module) -> dict[str, Any]:
    source = sys.modules[f"keras.src.{module.__name__.split('.')[-1]}"]
    return dict(getattr(source, "ALL_OBJECTS_DICT", {}))


def _optimizers(keras) -> dict[str, Any]:
    found = {}
    for name in sorted(_all_objects(keras.optimizers)):
        if name in NOT_BY_NAME or not name.islower():
            continue
        try:
            optimizer = keras.optimizers.get(name)
        except Exception:  # needs arguments (MultiOptimizer, LossScaleOptimizer)
            continue
        found[name] = _arguments(type(optimizer).__init__)
    return found


_STEPS_AND_WINDOWS = frozenset({"strides", "pool_size", "dilation_rate", "size",
                                "depth_multiplier", "kernel_size"})


def main(argv: list[str]) -> int:
    output = argv[argv.index("--output") + 1] if "--output" in argv else None
    text = json.dumps(build(), indent=1, sort_keys=True) + "\n"
    if output:
        Path(output).write_text(text, encoding="utf-8")
    else:
        sys.stdout.write(text)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
