"""Property: any mutation of a shipped config either validates or is refused as a ConfigError.

Mutants are the shipped configs with one or more changes: a value replaced by one of the
wrong type, a huge or negative number, a key removed or added, a layer list emptied, a
value wrapped in another level of nesting; plus random bytes and random YAML text. Most
examples go through `load_config` in-process (fast); a few through `dlcourse validate`
as a real process, which must exit with status 2 and a short message, no traceback.
"""

import math

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from dlcourse.config import Config, load_config
from dlcourse.errors import ConfigError

from helpers import CONFIGS
from helpers import run_dlcourse

SHIPPED = [yaml.safe_load(path.read_text()) for path in CONFIGS]
pytestmark = pytest.mark.robustness("fuzzed configs")

FUZZ = settings(
    max_examples=350, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
LONGEST_MESSAGE = 3000

edge_numbers = st.sampled_from(
    [0, -1, 2**31, 2**32, 2**63, 10**30, 1e308, -0.0, 1e-320, math.nan, math.inf, -math.inf]
)
numbers = st.one_of(
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    edge_numbers,
)
scalars = st.one_of(
    numbers, st.booleans(), st.none(), st.text(max_size=20),
    st.sampled_from(["relu", "Dense", "LSTM", "test", "mnist", "imdb", "sgd", "1e-3", "~", ""]),
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.dictionaries(st.one_of(st.text(max_size=10), st.integers()), inner, max_size=4),
    ),
    max_leaves=12,
)


def paths_in(node, prefix=()):
    """Every place in a parsed config, as a tuple of keys and list indices."""
    yield prefix
    if isinstance(node, dict):
        for key, value in node.items():
            yield from paths_in(value, (*prefix, key))
    elif isinstance(node, list):
        for index, value in enumerate(node):
            yield from paths_in(value, (*prefix, index))


def parent_of(raw, path):
    node = raw
    for part in path[:-1]:
        node = node[part]
    return node


# Numeric settings of the schema, set whether or not the shipped file has them.
NUMERIC_SETTINGS = [
    ("seed",), ("data", "limit"), ("fit", "epochs"), ("fit", "batch_size"),
    ("fit", "validation_split"), ("reference", "value"),
    ("compile", "optimizer", "learning_rate"), ("compile", "optimizer", "momentum"),
]


@st.composite
def mutants(draw):
    raw = yaml.safe_load(yaml.safe_dump(draw(st.sampled_from(SHIPPED))))  # a deep copy
    for _ in range(draw(st.integers(min_value=1, max_value=3))):
        places = [path for path in paths_in(raw) if path]
        path = draw(st.sampled_from(places))
        parent, key = parent_of(raw, path), path[-1]
        change = draw(
            st.sampled_from(
                ["replace", "renumber", "setting", "remove", "add_key", "nest", "empty_list"]
            )
        )
        numeric = [p for p in places if type(parent_of(raw, p)[p[-1]]) in (int, float)]
        if change == "renumber" and numeric:  # most mutants stay valid but for one number
            path = draw(st.sampled_from(numeric))
            parent_of(raw, path)[path[-1]] = draw(numbers)
        elif change == "setting":
            *sections, key = draw(st.sampled_from(NUMERIC_SETTINGS))
            node = raw
            for section in sections:
                if not isinstance(node.get(section), dict):
                    node[section] = {"name": "sgd"} if section == "optimizer" else {}
                node = node[section]
            node[key] = draw(edge_numbers)
        elif change == "replace":
            parent[key] = draw(values)
        elif change == "remove":
            del parent[key]
        elif change == "add_key" and isinstance(parent[key], dict):
            parent[key][draw(st.text(min_size=1, max_size=12))] = draw(scalars)
        elif change == "nest":
            parent[key] = draw(st.sampled_from([[parent[key]], {"value": parent[key]}]))
        elif change == "empty_list":
            parent[key] = draw(st.sampled_from([[], {}, None]))
    return raw


def check_load(path):
    """load_config either returns a Config that round-trips, or raises a short ConfigError."""
    try:
        config = load_config(path)
    except ConfigError as error:
        message = str(error)
        assert message.startswith(f"{path}: "), message
        assert len(message) < LONGEST_MESSAGE, message
        return None
    assert isinstance(config, Config)
    assert all(math.isfinite(number) for number in numbers_in(config.model_dump())), config
    resolved = path.with_name("resolved.yaml")
    resolved.write_text(config.to_yaml())
    assert load_config(resolved) == config
    return config


def numbers_in(node):
    if isinstance(node, dict):
        return [number for value in node.values() for number in numbers_in(value)]
    if isinstance(node, (list, tuple)):
        return [number for value in node for number in numbers_in(value)]
    return [node] if isinstance(node, float) else []


def dumped(raw):
    try:
        return yaml.safe_dump(raw, sort_keys=False, allow_unicode=True)
    except yaml.YAMLError:
        assume(False)


@FUZZ
@given(raw=mutants())
def test_mutated_shipped_configs_validate_or_fail_cleanly(raw, tmp_path, cases):
    cases.add()
    path = tmp_path / "mutant.yaml"
    path.write_text(dumped(raw), encoding="utf-8")
    check_load(path)


@FUZZ
@given(text=st.text(max_size=300))
def test_random_yaml_text_validates_or_fails_cleanly(text, tmp_path, cases):
    cases.add()
    path = tmp_path / "random.yaml"
    path.write_text(text, encoding="utf-8", errors="surrogatepass")
    check_load(path)


@FUZZ
@given(data=st.binary(max_size=300), shipped=st.sampled_from(CONFIGS))
def test_random_bytes_in_a_config_fail_cleanly(data, shipped, tmp_path, cases):
    cases.add()
    text = shipped.read_bytes()
    position = len(text) // 2
    path = tmp_path / "bytes.yaml"
    path.write_bytes(text[:position] + data + text[position:])
    check_load(path)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(raw=mutants())
def test_cli_validate_exits_0_or_2_without_a_traceback(raw, tmp_path, cases):
    cases.add()
    path = tmp_path / "mutant.yaml"
    path.write_text(dumped(raw), encoding="utf-8")
    result = run_dlcourse("validate", path)
    assert result.returncode in (0, 2), result.stderr
    assert "Traceback" not in result.stderr
    if result.returncode == 2:
        assert result.stderr.startswith(f"Error: {path}: ") and len(result.stderr) < LONGEST_MESSAGE


@pytest.mark.parametrize(
    "content",
    [b"name: caf\xe9\n", b"\xff\xfe\x00\x00", "fit: {epochs: 1e999}\n".encode(),
     b"model: {layers: [{Dense: {units: 99999999999999999999999}}]}\n"],
    ids=["latin-1", "bom-garbage", "infinite-epochs", "huge-units"],
)
def test_cli_validate_refuses_bad_bytes_and_huge_numbers(content, tmp_path, cases):
    cases.add()
    path = tmp_path / "bad.yaml"
    path.write_bytes(content)
    result = run_dlcourse("validate", path)
    assert result.returncode == 2 and result.stderr.startswith(f"Error: {path}: ")
    assert "Traceback" not in result.stderr


def test_nan_and_infinity_never_validate_as_numbers(tmp_path):
    raw = yaml.safe_load(CONFIGS[0].read_text())
    for value in (math.nan, math.inf):
        raw["compile"]["optimizer"] = {"name": "sgd", "learning_rate": value}
        path = tmp_path / "nan.yaml"
        path.write_text(yaml.safe_dump(raw))
        with pytest.raises(ConfigError, match="compile.optimizer.learning_rate"):
            load_config(path)
