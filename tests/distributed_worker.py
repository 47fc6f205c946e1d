"""One worker of a test cluster: trains through dlcourse's API, then saves what tests compare.

Usage: python distributed_worker.py CONFIG DATA_DIR OUTPUT_DIR RESULT_NPZ [KEY=VALUE ...]

The cluster comes from TF_CONFIG, as for `dlcourse train`. RESULT_NPZ receives the final
weights (weight_0, weight_1, ...) and the per-epoch loss. A DlcourseError is reported as
the CLI reports it: "Error: ..." on stderr and its exit code.
"""

import sys

import numpy as np

import dlcourse
from dlcourse.config import parse_overrides
from dlcourse.errors import DlcourseError


def main(config, data_dir, output_dir, result_path, *overrides) -> int:
    try:
        result = dlcourse.train(
            config, parse_overrides(overrides), data_dir=data_dir, output_dir=output_dir
        )
    except DlcourseError as error:
        print(f"Error: {error}", file=sys.stderr)
        return error.exit_code
    weights = {f"weight_{index}": value for index, value in enumerate(result.model.get_weights())}
    np.savez(result_path, loss=np.array(result.history["loss"]), **weights)
    return 0


if __name__ == "__main__":
    sys.exit(main(*sys.argv[1:]))
