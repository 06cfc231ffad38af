"""The model of keras-tuner's getting-started guide, written the way the guide writes it.

https://keras.io/guides/keras_tuner/getting_started/ ("Define the search space"): the number of
layers, each layer's units, the activation, a dropout switch and the learning rate are searched;
``build_model`` compiles the model, so its Adam optimizer, loss and metrics are kept.

    python -m search.run --space tests/user_project/kt_getting_started.py:build_model
"""

import keras
import keras_tuner
from keras import layers


def build_model(hp):
    model = keras.Sequential()
    model.add(layers.Flatten())
    # Tune the number of layers.
    for i in range(hp.Int("num_layers", 1, 3)):
        model.add(
            layers.Dense(
                # Tune number of units separately.
                units=hp.Int(f"units_{i}", min_value=32, max_value=512, step=32),
                activation=hp.Choice("activation", ["relu", "tanh"]),
            )
        )
    if hp.Boolean("dropout"):
        model.add(layers.Dropout(rate=0.25))
    model.add(layers.Dense(10, activation="softmax"))
    learning_rate = hp.Float("lr", min_value=1e-4, max_value=1e-2, sampling="log")
    model.compile(
        optimizer=keras.optimizers.Adam(learning_rate=learning_rate),
        loss="categorical_crossentropy",
        metrics=["accuracy"],
    )
    return model


build_model(keras_tuner.HyperParameters())
