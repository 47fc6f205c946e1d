import json

import jsonschema
import pytest
import yaml
from click.testing import CliRunner

from dlcourse.cli import main
from dlcourse.config import json_schema

from helpers import CONFIGS


@pytest.fixture(scope="module")
def schema():
    return json.loads(CliRunner().invoke(main, ["schema"]).output)


def test_schema_is_generated_from_the_config_classes(schema):
    assert schema == json.loads(json.dumps(json_schema()))
    jsonschema.Draft202012Validator.check_schema(schema)


@pytest.mark.parametrize("path", CONFIGS, ids=lambda p: p.stem)
def test_shipped_configs_satisfy_the_schema(schema, path):
    jsonschema.validate(yaml.safe_load(path.read_text()), schema)


@pytest.mark.parametrize(
    "change",
    [
        lambda raw: raw["fit"].update(batchsize=3),
        lambda raw: raw["model"]["layers"].append({"LSTMM": {"units": 3}}),
        lambda raw: raw["data"].update(dataset="cifar"),
    ],
)
def test_schema_flags_what_an_editor_should(schema, change):
    raw = yaml.safe_load(CONFIGS[0].read_text())
    change(raw)
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, schema)


def test_schema_allows_search_expressions_where_tune_may_search(schema):
    raw = yaml.safe_load(CONFIGS[0].read_text())
    raw["fit"]["batch_size"] = {"tune": "choice", "values": [64, 128]}
    jsonschema.validate(raw, schema)
    raw["fit"]["batch_size"] = {"tune": "int", "min": 16}  # no max
    with pytest.raises(jsonschema.ValidationError):
        jsonschema.validate(raw, schema)
