"""Bad user code: a syntax error on line 6 (the colon after the def)."""

from keras import layers


def build(hp)
    return layers.Dense(hp.Int("units", 8, 64))
