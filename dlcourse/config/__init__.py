"""The config format: YAML read safely, overridden from the command line, validated once.

After `load_config` returns, the rest of dlcourse works with typed, frozen objects and
never re-checks them. Every problem is reported with its path in the file, e.g.
`model.layers[3].LSTM.units: expected an integer, got 'abc'`. Nothing here imports
TensorFlow.

The package's modules, lowest first: problems (wording), vocabulary (what configs may
name), keras_catalog (facts read from Keras), datasets (the datasets and their settings),
layers (layer specs), sections (the config's sections), search (search expressions),
safe_yaml (bounded YAML), overrides (`--set`), loading, schema (JSON Schema).
"""

from dlcourse.config.datasets import DatasetFamily, family
from dlcourse.config.layers import LayerSpec
from dlcourse.config.loading import (
    SMOKE_OVERRIDES,
    Origin,
    SearchConfig,
    check_search_config,
    load_config,
    load_search_config,
    origin_of,
    read_raw_config,
    renamed,
    validate,
)
from dlcourse.config.overrides import apply_overrides, override_texts, parse_overrides
from dlcourse.config.problems import format_path
from dlcourse.config.schema import json_schema
from dlcourse.config.search import SearchExpression
from dlcourse.config.shipped import ShippedConfig, shipped_configs
from dlcourse.config.sections import (
    CompileConfig,
    Config,
    DataConfig,
    DistributionConfig,
    LearningRateSchedule,
    OptimizerConfig,
    VectorizeConfig,
)

__all__ = [
    "SMOKE_OVERRIDES", "Origin", "origin_of", "CompileConfig", "Config", "DataConfig", "DatasetFamily",
    "DistributionConfig", "LayerSpec", "LearningRateSchedule", "OptimizerConfig",
    "SearchConfig", "SearchExpression", "VectorizeConfig", "apply_overrides",
    "check_search_config", "family", "format_path", "json_schema", "load_config",
    "override_texts", "ShippedConfig", "shipped_configs",
    "load_search_config", "parse_overrides", "read_raw_config", "renamed", "validate",
]
