"""A keras-tuner ``HyperModel`` subclass, the way keras-tuner's getting-started guide writes one.

https://keras.io/guides/keras_tuner/getting_started/ ("Tune model training"): the model is built
by ``HyperModel.build``. It does not compile the model, so the platform's training knobs
(optimizer, learning rate, batch size, epochs, ...) are searched with the convolution's filters,
the pooling and the dense layer's units.

    python -m search.run --space tests/user_project/kt_hypermodel.py
"""

import keras
import keras_tuner
from keras import layers


class SmallConvHyperModel(keras_tuner.HyperModel):
    def build(self, hp):
        model = keras.Sequential()
        model.add(layers.Conv2D(hp.Int("filters", 4, 16, step=4), 3, activation="relu"))
        if hp.Choice("pooling", ["max", "avg"]) == "max":
            model.add(layers.MaxPooling2D(2))
        else:
            model.add(layers.AveragePooling2D(2))
        model.add(layers.Flatten())
        model.add(layers.Dense(hp.Int("units", 16, 64, step=16), activation="relu"))
        model.add(layers.Dense(10, activation="softmax"))
        return model
