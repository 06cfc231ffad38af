"""Bad user code: ``build`` forgets ``return model``."""

import keras
from keras import layers


def build(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    model.add(layers.Dense(hp.Int("units", 8, 64), activation="relu"))
    model.add(layers.Dense(10, activation="softmax"))
