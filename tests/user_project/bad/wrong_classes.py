"""Bad user code: the output layer has 5 units where the data has 10 classes."""

import keras
from keras import layers


def build(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    model.add(layers.Dense(hp.Int("units", 8, 64), activation="relu"))
    model.add(layers.Dense(5, activation="softmax"))
    return model
