"""User code that fails only for some points: three poolings shrink a 28x28 image too far
when ``deep`` is on; the search fails those trials and goes on."""

import keras
from keras import layers


def build(hp):
    model = keras.Sequential([keras.Input((28, 28, 1))])
    deep = hp.Boolean("deep")
    for _ in range(6 if deep else 1):
        model.add(layers.Conv2D(4, 3, padding="valid"))
        model.add(layers.MaxPooling2D(2))
    model.add(layers.Flatten())
    model.add(layers.Dense(10, activation="softmax"))
    return model
