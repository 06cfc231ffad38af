"""Bad user code: ``build`` raises on line 11 (a typo in a layer's argument)."""

import keras
from keras import layers


def build(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    units = hp.Int("units", 8, 64)
    model.add(layers.Dense(units, activaton="relu"))
    model.add(layers.Dense(10, activation="softmax"))
    return model
