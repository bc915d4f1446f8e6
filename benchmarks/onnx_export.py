"""Export a final model to ONNX on the backend Keras runs on, then check the file in onnxruntime against Keras.

A 71-px model with random weights (`models.final_model`: raw pixels in, probabilities out), exported with
`serving.export_onnx`, as notebook 13 does. It prints the export's time, the file's input shape (a name
for the batch dimension: any batch size) and the largest difference from Keras' probabilities on
validation images, at batches of 1 and 4. Run it once per backend:

    python benchmarks/onnx_export.py                                        # TensorFlow, in .venv
    KERAS_BACKEND=torch .venv-torch/bin/python benchmarks/onnx_export.py
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np

from workbook import backend, data, dataset, models, serving  # first: starts TensorFlow quietly


def main() -> None:
    import keras

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--image-size", type=int, default=71)
    args = parser.parse_args()
    size = args.image_size
    class_names = [folder.name for folder in dataset.class_folders(data.split_dir("train"))]
    keras.utils.set_random_seed(1)
    final = models.final_model(models.base_model(None, size), models.make_head(0.001, 8, 0.2))
    with tempfile.TemporaryDirectory() as folder:
        started = time.perf_counter()
        path = serving.export_onnx(final, Path(folder) / "model.onnx", class_names)
        seconds = time.perf_counter() - started
        predictor = serving.Predictor(path)
        print(f"{backend.version()}: exported in {seconds:.1f} s; input {predictor.session.get_inputs()[0].shape}")
        paths = [data.example_image(name, split="validation") for name in class_names[:4]]
        batch = np.stack([data.load_image(path, size) for path in paths]).astype(np.float32)
        expected = keras.ops.convert_to_numpy(final(batch))
        for count in (1, len(batch)):
            difference = np.abs(predictor.probabilities(batch[:count]) - expected[:count]).max()
            print(f"batch of {count}: largest |onnxruntime - Keras| {difference:.1e}")


if __name__ == "__main__":
    main()
