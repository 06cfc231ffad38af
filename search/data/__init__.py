"""Image classification data sets for the search: built-ins via Keras' cache, or the user's files.

>>> data = load_dataset("fashion_mnist", limit=2000)  # doctest: +SKIP
>>> data.summary()  # doctest: +SKIP
'fashion_mnist: 1800 train / 200 val / 2000 test, 28x28x1, 10 classes'
"""

from search.data._dataset import DataError, Dataset, one_hot
from search.data._load import DATASETS, dataset_from_arrays, dataset_source, load_dataset
from search.data._pipeline import EVAL_BATCH_SIZE, batches
from search.data._subset import stratified_subset

__all__ = [
    "DATASETS",
    "EVAL_BATCH_SIZE",
    "DataError",
    "Dataset",
    "batches",
    "dataset_from_arrays",
    "dataset_source",
    "load_dataset",
    "one_hot",
    "stratified_subset",
]
