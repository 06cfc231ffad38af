"""Bad user code: imports a module that does not exist (line 3)."""

import keras_layers_that_do_not_exist  # noqa: F401


def build(hp):
    return None
