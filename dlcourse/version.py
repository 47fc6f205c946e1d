"""dlcourse's version, and when this process started importing dlcourse."""

import time

__version__ = "0.1.0"
# The start of a run's time to its first epoch: imports and loading the data count too.
STARTED = time.perf_counter()
