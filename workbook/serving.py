"""Serving the final model (notebook 13): ONNX export, and prediction with onnxruntime, numpy and Pillow only.

`export_onnx` needs Keras (it is imported inside it); everything else here runs where only onnxruntime,
numpy and Pillow are installed: it reads images with `workbook.images`, the code the photo loader of
notebook 12 uses, and finds the class names and image size in the ONNX file's metadata.
"""

from __future__ import annotations

import base64
import binascii
import io
import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from workbook import images

CLASS_NAMES_KEY = "class_names"  # ONNX metadata: the classes, in the order of the model's outputs, as JSON
IMAGE_SIZE_KEY = "image_size"  # ONNX metadata: the square side the model takes, in pixels
# Backends whose exported file onnxruntime cannot run with the pinned versions, and why (measured).
ONNX_FAILS = {
    "jax": "jax2onnx 0.17.1 exports Xception's pooling in a form onnxruntime 1.32 refuses "
    "('MaxPool ... Unsupported pooling size'), so there is no file to serve on JAX; export on TensorFlow",
}
MAX_PIXELS = 50_000_000  # the largest image decoded (width × height); Pillow itself only warns up to twice its limit


class ImageRejected(ValueError):
    """A request's image cannot be used; the message says why and what to send instead.

    `status` is the HTTP status a service answers with: 415 for a format it does not read, 413 for too
    many pixels, 400 for anything else.
    """

    def __init__(self, message: str, status: int = 400):
        super().__init__(message)
        self.status = status


def export_onnx(model, path: str | Path, class_names: list[str]) -> Path:
    """Export a Keras model taking raw square images to ONNX, with the class names and image size in its metadata.

    Keras converts with tf2onnx on TensorFlow and jax2onnx on JAX (`model.export`). On PyTorch this calls
    `torch.onnx.export` itself (`_export_torch`): Keras 3.15's own export there fails on Xception.
    """
    import onnx

    from workbook import backend

    path = Path(path)
    size = int(model.input_shape[1])
    model(np.zeros((1, size, size, 3), np.float32))  # Keras exports only a model that has been called
    if backend.name() == "torch":
        _export_torch(model, path, size)
    else:
        with warnings.catch_warnings():  # Keras' tf2onnx shim probes `np.object`, which numpy 2.4 warns about
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*np.object")
            model.export(str(path), format="onnx", verbose=False)
    exported = onnx.load(str(path))
    entries = {CLASS_NAMES_KEY: json.dumps(list(class_names)), IMAGE_SIZE_KEY: str(size)}
    del exported.metadata_props[:]
    for key, value in entries.items():
        exported.metadata_props.add(key=key, value=value)
    onnx.save(exported, str(path))
    return path


def _export_torch(model, path: Path, size: int) -> None:
    """PyTorch's exporter (torch.export, then onnxscript), with the batch dimension left free.

    Keras 3.15's `model.export(format="onnx")` on PyTorch gives no usable file for Xception (measured with
    torch 2.13.0): with the batch size free it uses the older TorchScript exporter, which stops at the
    max-pooling's "same" padding ("... because it is not constant"); with a fixed input signature it
    exports, but the file then takes batches of exactly that size. torch.export with a named batch
    dimension keeps any batch size, as tf2onnx does.
    """
    import importlib.util
    import logging

    import torch

    if importlib.util.find_spec("onnxscript") is None:
        raise ModuleNotFoundError(
            "PyTorch's ONNX exporter needs onnxscript: pip install -r requirements-torch.txt (it pins onnxscript)"
        )
    model.eval()
    registration = logging.getLogger("torch.onnx._internal.exporter._registration")
    level = registration.level
    registration.setLevel(logging.ERROR)  # "torchvision is not installed. Skipping torchvision::nms" (not used)
    try:
        with warnings.catch_warnings():  # torch.export's own use of a deprecated pytree name
            warnings.filterwarnings("ignore", category=FutureWarning, message=".*LeafSpec")
            # A sample batch of 2: torch.export specialises a dimension it sees at size 1.
            torch.onnx.export(
                model,
                (torch.zeros(2, size, size, 3),),
                str(path),
                dynamo=True,
                input_names=["images"],
                output_names=["probabilities"],
                dynamic_shapes=(({0: torch.export.Dim("batch")},),),  # forward(*args): one tuple of inputs
                external_data=False,  # one file, weights inside (its default writes them to a second file, .onnx.data)
                verbose=False,
            )
    finally:
        registration.setLevel(level)


def saved_final_model() -> Path | None:
    """The `.keras` file notebook 12 saved: in this run's folder under `python -m workbook run`, else its newest run."""
    from workbook import settings

    name = "12_using_the_model/clothing_classifier.keras"
    metrics = settings.metrics_file()
    if metrics:
        candidates = [Path(metrics).parent / name]
    else:
        candidates = sorted(settings.runs_dir().glob("12_using_the_model-*/clothing_classifier.keras"), reverse=True)
    return next((path for path in candidates if path.is_file()), None)


def check_image(data: bytes, max_pixels: int = MAX_PIXELS) -> None:
    """Raise ImageRejected, with the reason, for bytes that are empty, too many pixels or not a readable image.

    Only the header is read here, so a huge image is refused before it is decoded.
    """
    if not data:
        raise ImageRejected("The upload is empty: send a JPEG, PNG, BMP or GIF image.")
    known = images.unsupported_format(data[:16])
    if known:
        raise ImageRejected(f"{known} images cannot be read here: save or export the photo as JPEG and send that.", 415)
    try:
        with Image.open(io.BytesIO(data)) as opened:
            width, height = opened.size
    except (OSError, Image.DecompressionBombError):
        raise ImageRejected(
            "The file is not an image this service reads: send a JPEG, PNG, BMP or GIF image.", 415
        ) from None
    if width * height > max_pixels:
        raise ImageRejected(
            f"The image has {width} × {height} = {width * height:,} pixels, over this service's limit of "
            f"{max_pixels:,}: send a smaller image.",
            413,
        )


@dataclass(frozen=True)
class Prediction:
    """One class and the probability the model gave it."""

    name: str
    probability: float


class Predictor:
    """An exported model in onnxruntime, with what it needs to read an image: no Keras, no TensorFlow."""

    def __init__(self, path: str | Path, threads: int | None = None):
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        self.session = onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
        metadata = self.session.get_modelmeta().custom_metadata_map
        if CLASS_NAMES_KEY not in metadata or IMAGE_SIZE_KEY not in metadata:
            raise ValueError(
                f"{path} has no class names or image size in its metadata: export it with serving.export_onnx"
            )
        self.class_names = json.loads(metadata[CLASS_NAMES_KEY])
        self.image_size = int(metadata[IMAGE_SIZE_KEY])
        self.input_name = self.session.get_inputs()[0].name

    def tensor(self, source: images.Source) -> np.ndarray:
        """The model's input for one image: `images.photo` (decoded, resized like training, upright), batch of one."""
        try:
            return images.photo(source, self.image_size)[None]
        except ValueError as error:
            raise ImageRejected(
                f"The image cannot be decoded ({error}): send a complete JPEG, PNG, BMP or GIF file."
            ) from None

    def probabilities(self, batch: np.ndarray) -> np.ndarray:
        """The model's class probabilities for a float32 batch of raw 0-255 pixels (it ends in a softmax)."""
        return self.session.run(None, {self.input_name: batch.astype(np.float32)})[0]

    def predict(self, source: images.Source, top: int = 3) -> list[Prediction]:
        """The `top` most probable classes of one image (a path or its bytes), most probable first."""
        if isinstance(source, bytes):
            check_image(source)
        probabilities = self.probabilities(self.tensor(source))[0]
        best = np.argsort(-probabilities, kind="stable")[:top]
        return [Prediction(self.class_names[i], float(probabilities[i])) for i in best]


def handler(predictor: Predictor, event: dict) -> dict:
    """A serverless function's shape: an event with the image's bytes as base64 in "body" → status and JSON body.

    It reads only the bytes in the event, never a path or URL named in it.
    """
    try:
        data = base64.b64decode(event.get("body") or "", validate=True)
        top = predictor.predict(data)
    except ImageRejected as error:
        return {"statusCode": error.status, "body": json.dumps({"error": str(error)})}
    except (binascii.Error, ValueError):
        return {"statusCode": 400, "body": json.dumps({"error": "The body is not base64: encode the image's bytes."})}
    body = [{"class": item.name, "probability": round(item.probability, 4)} for item in top]
    return {"statusCode": 200, "body": json.dumps({"predictions": body})}
