"""Loading a `.keras` model file that may have been tampered with.

Keras's safe mode refuses files that hold Python code (a Lambda's function). Before Keras
reads anything, the archive is checked here: its members' declared sizes within bounds
(a small file whose config.json inflates to gigabytes is refused; zipfile never inflates
a member past its declared size), and its config readable JSON. Whatever Keras then
raises about a damaged file (a class that doesn't exist, garbage weights) is reported as
one paragraph naming the file.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from dlcourse.errors import RunError, one_line

# Everything the archive may inflate to: the lecture's largest model is a few MB.
LARGEST_MODEL_BYTES = 1 << 30


def load_model_file(path: Path, largest_config: int):
    check_archive(path, largest_config)
    import keras

    from dlcourse.layers import OWN_LAYERS

    try:
        return keras.models.load_model(path, custom_objects=OWN_LAYERS, safe_mode=True)
    except ValueError as error:
        if "arbitrary code" in str(error):
            raise RunError(
                f"{path}: refused to load this model. It holds Python code (such as a "
                "Lambda layer's function), and dlcourse loads models only in Keras's safe "
                "mode, which never runs code from a file because that code could do "
                f"anything (arbitrary code execution). Keras: {str(error).split('. ')[0]}."
            ) from None
        raise _damaged(path, error) from None
    except (TypeError, OSError, KeyError, AttributeError, IndexError, RuntimeError,
            zipfile.BadZipFile, json.JSONDecodeError) as error:
        raise _damaged(path, error) from None


def _damaged(path: Path, error: Exception) -> RunError:
    return RunError(f"{path}: can't load this model ({type(error).__name__}: "
                    f"{one_line(error, 300)}). "
                    "Is the file complete? Train the run again to write a new one.")


def check_archive(path: Path, largest_config: int) -> None:
    try:
        with zipfile.ZipFile(path) as archive:
            members = archive.infolist()
            total = sum(member.file_size for member in members)
            if total > LARGEST_MODEL_BYTES:
                raise RunError(f"{path}: inflates to {total:,} bytes, more than the "
                               f"{LARGEST_MODEL_BYTES:,} a model file may; is it damaged?")
            config = archive.getinfo("config.json")
            if config.file_size > largest_config:
                raise RunError(f"{path}: its config.json inflates to {config.file_size:,} "
                               f"bytes, more than the {largest_config:,} a model's may; is "
                               "it damaged?")
            json.loads(archive.read(config).decode("utf-8"))
    except KeyError:
        raise RunError(f"{path}: not a Keras model file (it has no config.json).") from None
    except (zipfile.BadZipFile, OSError, UnicodeDecodeError, json.JSONDecodeError,
            RecursionError) as error:
        raise _damaged(path, error) from None
