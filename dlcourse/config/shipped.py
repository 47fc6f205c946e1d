"""The configs that ship with dlcourse: the lecture's models and more, found by name.

`dlcourse train imdb_lstm` and `dlcourse.train("imdb_lstm")` use the shipped config when
no file of that name is in the working directory, so the lecture runs wherever dlcourse is
installed, repository or not. Each config's header says its slide, command and result.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

SHIPPED_DIR = Path(__file__).resolve().parent.parent / "configs"


@dataclass(frozen=True)
class ShippedConfig:
    name: str
    path: Path
    title: str  # the header's first line
    expected: str  # what the header says to expect

    def as_dict(self) -> dict[str, str]:
        return {"name": self.name, "path": str(self.path), "title": self.title,
                "expected": self.expected}


def shipped_configs() -> list[ShippedConfig]:
    """Every shipped config, by name."""
    return [_described(path) for path in sorted(SHIPPED_DIR.glob("*.yaml"))]


def _described(path: Path) -> ShippedConfig:
    header, expected = [], []
    in_expected = False
    for line in path.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        text = line.lstrip("#").strip()
        if text.lower().startswith("expected:"):
            expected.append(text.split(":", 1)[1].strip())
            in_expected = True
        elif in_expected and line.startswith("#  "):
            expected[-1] += " " + text  # the value runs on, indented under itself
        else:
            in_expected = False
        header.append(text)
    title = _first_sentence(header) or path.stem
    return ShippedConfig(path.stem, path, title, " ".join(expected))


def _first_sentence(header: list[str], longest: int = 100) -> str:
    """The header's opening sentence (it may run over lines), cut to `longest` at a word."""
    lines = []
    for line in header:
        if line.split(":", 1)[0] in ("Run", "Expected") or not line:
            break
        lines.append(line)
    text = " ".join(lines)
    sentence = text.split(". ", 1)[0].rstrip(".")
    if len(sentence) <= longest:
        return sentence
    return sentence[:longest].rsplit(" ", 1)[0].rstrip(",;:") + " ..."


def resolve(path: str | Path) -> Path:
    """`path` itself if it exists and is not a folder; else the shipped config it names
    (imdb_lstm, or imdb_lstm.yaml, or configs/imdb_lstm.yaml as the docs write it); else
    `path`, for the usual 'no such config file'. A folder is never a config: inside
    `runs/`, `mnist_cnn` is the folder of that config's runs."""
    given = Path(path)
    if given.exists() and not given.is_dir():
        return given
    shipped = SHIPPED_DIR / (given.stem + ".yaml")
    if given.suffix in ("", ".yaml") and given.parent in (Path("."), Path("configs")) \
            and shipped.is_file():
        return shipped
    return given


def closest_shipped(path: str | Path) -> str:
    """'; did you mean imdb_lstm' for a misspelt shipped name; '' when none is close."""
    import difflib

    names = [config.stem for config in SHIPPED_DIR.glob("*.yaml")]
    close = difflib.get_close_matches(Path(path).stem, names, n=1)
    return f"; did you mean {close[0]}" if close else ""
