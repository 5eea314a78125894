"""Step 2: check the data before anything is trained on it.

The rules are the kit's data contract for training data (``TRAINING_DATA`` in
``jukebox/data_contract.py``): the columns, their types, the ranges of the audio features, no
missing values, one row per (song, country), enough rows. The step is the kit's one validation
component (``jukebox/components/validation.py``), the same one that guards chapters 5 and 7's data
pipelines: a dataset that breaks a rule stops the run with one sentence naming every broken rule,
so nothing is trained or registered on bad data.
"""

import kit_package  # noqa: F401 (the kit's package, found beside this folder)

from jukebox.components.validation import validate_data
from jukebox.data_contract import TRAINING_DATA

__all__ = ["TRAINING_DATA", "validate_data"]
