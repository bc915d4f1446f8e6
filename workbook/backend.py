"""Everything that depends on the framework under Keras: TensorFlow, JAX or PyTorch.

Keras 3 runs the same model code on any of them; set `KERAS_BACKEND` (`tensorflow`, the default,
`jax` or `torch`) before starting Python or JupyterLab. The rest of the workbook uses `keras`,
`keras.ops` and `keras.utils` only. What differs lives here: the device, the precision settings,
and how images are read. On TensorFlow the images come through `tf.data` (`FORMAT = "tf"`); on JAX
and PyTorch, even where TensorFlow is installed too, through Pillow and numpy (`FORMAT = "grain"`,
Keras' name for its TensorFlow-free loader), so each backend has one way to read images.
"""

from __future__ import annotations

import contextlib
import importlib.metadata
import importlib.util
import json
import logging
import os

import numpy as np

from workbook import images, settings

BACKENDS = ("tensorflow", "jax", "torch")  # Keras' names for them, which are also their packages' names


@contextlib.contextmanager
def native_stderr_silenced():
    """Send what C++ code writes to stderr (TensorFlow's start-up log lines) to /dev/null meanwhile."""
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def _quiet_start() -> None:
    """Import TensorFlow, when it is the backend, with its start-up log lines silenced.

    TensorFlow logs oneDNN/CUDA lines before its logging can be configured (TF_CPP_MIN_LOG_LEVEL misses
    some), and its first device probe logs a CUDA error on machines without a GPU. Errors still raise.
    """
    if os.environ.get("KERAS_BACKEND", "tensorflow") == "tensorflow" and importlib.util.find_spec("tensorflow"):
        os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
        with native_stderr_silenced():
            import tensorflow

            tensorflow.config.list_physical_devices("GPU")


def _choose_installed() -> None:
    """With no backend chosen, or a chosen one not installed in keras.json, use the backend that is installed.

    Keras' default is TensorFlow, and Keras writes that into ~/.keras/keras.json the first time it
    runs anywhere; in an environment without TensorFlow this picks JAX or PyTorch instead, so a
    JAX or PyTorch environment works without setting KERAS_BACKEND. A set KERAS_BACKEND always wins.
    """
    if os.environ.get("KERAS_BACKEND"):
        return
    config = os.path.join(os.environ.get("KERAS_HOME") or os.path.expanduser("~/.keras"), "keras.json")
    try:
        with open(config, encoding="utf-8") as file:
            chosen = json.load(file).get("backend", "tensorflow")
    except (OSError, ValueError):
        chosen = "tensorflow"
    if importlib.util.find_spec(chosen):
        return
    installed = [candidate for candidate in BACKENDS if importlib.util.find_spec(candidate)]
    if not installed:  # `pip install .` without an extra: say what to add instead of Keras' ModuleNotFoundError
        raise ImportError(
            "Keras needs a backend, and none of TensorFlow, JAX or PyTorch is installed here.\n"
            "From the workbook's folder: pip install '.[tensorflow]' (or '.[jax]', '.[torch]'), or use `make lab`."
        )
    os.environ["KERAS_BACKEND"] = installed[0]


_choose_installed()
_quiet_start()  # before Keras imports TensorFlow
import keras  # noqa: E402


def keep_compiled_programs(folder) -> None:
    """On JAX, keep every compiled program in `folder`, so the next notebook (or test) that needs it reads it.

    Each notebook's kernel is a new process, and JAX compiles each operation the first time a process
    runs it: building Xception with random weights alone compiles hundreds of small programs.
    JAX's persistent compilation cache, given no minimum compile time or size, reuses them all
    (benchmarks/jax_compile_cache.py measures it). A JAX_COMPILATION_CACHE_DIR you set wins. On other
    backends this does nothing.

    Args:
        folder: where the compiled programs go (the workbook's cache folder keeps them in `jax/`).
    """
    if keras.config.backend() != "jax" or os.environ.get("JAX_COMPILATION_CACHE_DIR"):
        return
    import jax

    jax.config.update("jax_compilation_cache_dir", str(folder))
    jax.config.update("jax_persistent_cache_min_compile_time_secs", 0)
    jax.config.update("jax_persistent_cache_min_entry_size_bytes", -1)


keep_compiled_programs(settings.cache_dir() / "jax")

# What `keras.utils.image_dataset_from_directory(format=...)` should make here: a tf.data dataset or a Grain one.
FORMAT = "tf" if keras.config.backend() == "tensorflow" else "grain"


def name() -> str:
    """The backend Keras runs on: "tensorflow", "jax" or "torch"."""
    return keras.config.backend()


def version() -> str:
    """The backend and its version, such as "tensorflow 2.21.0"."""
    return f"{name()} {importlib.metadata.version(name())}"


def gpus() -> list[str]:
    """The names of the GPUs the backend can use (an Apple GPU counts): empty on a CPU-only machine."""
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        devices = tf.config.list_physical_devices("GPU")
        return [tf.config.experimental.get_device_details(d).get("device_name", d.name) for d in devices]
    if backend == "jax":
        import jax

        return [device.device_kind for device in jax.devices() if device.platform in ("gpu", "cuda", "rocm", "METAL")]
    if backend == "torch":
        import torch

        if torch.cuda.is_available():
            return [torch.cuda.get_device_name(index) for index in range(torch.cuda.device_count())]
        return ["Apple GPU (MPS)"] if torch.backends.mps.is_available() else []
    return []


def device(found: list[str] | None = None) -> str:
    """Where Keras computes, in a few words: "GPU: " and the GPUs' names, or "CPU only (N cores)".

    Args:
        found: the GPUs' names as `gpus()` gives them (recorded earlier); `gpus()` itself when None.

    Returns:
        The words every command and notebook prints after "Device".
    """
    found = gpus() if found is None else found
    return "GPU: " + ", ".join(found) if found else f"CPU only ({os.cpu_count()} cores)"


def configure() -> None:
    """Exact float32 matrix products on GPUs (no TF32), and no retracing notes, on whichever backend runs.

    Recent NVIDIA GPUs multiply float32 matrices in TF32 (10-bit mantissas) by default on some
    backends; the notebooks compare Keras with numpy to 1e-5, which needs full float32.
    """
    backend = name()
    if backend == "tensorflow":
        import tensorflow as tf

        tf.get_logger().setLevel("ERROR")  # sweeps build many models: "retracing" notes are noise
        tf.config.experimental.enable_tensor_float_32_execution(False)
    elif backend == "jax":
        import jax

        jax.config.update("jax_default_matmul_precision", "highest")
    elif backend == "torch":
        import torch

        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    if FORMAT == "grain":  # Grain (notebook 04) logs a warning on import when JAX's profiler is missing
        logging.getLogger("absl").setLevel(logging.ERROR)


# --- reading images the way the training pipeline does ---------------------------------------------


def read_image(path: str, image_size: int) -> np.ndarray:
    """One image file decoded to RGB and resized (bilinear, no antialiasing) to a float32 square.

    With `FORMAT == "tf"` these are the TensorFlow functions `image_dataset_from_directory` uses;
    otherwise `images.read` (Pillow's decoder, then the same arithmetic as `tf.image.resize`). The two
    decoders differ slightly on JPEG files (TensorFlow's default uses a faster, less exact inverse
    DCT: about 1 grey level on average, at most a few), so the cache keys name the format.
    Raises ValueError for a file that cannot be decoded.
    """
    if FORMAT == "tf":
        import tensorflow as tf

        try:
            image = tf.image.decode_image(tf.io.read_file(str(path)), channels=3, expand_animations=False)
        except tf.errors.InvalidArgumentError as error:
            raise ValueError(error.message) from None
        return tf.image.resize(image, (image_size, image_size), method="bilinear").numpy()
    return images.read(path, image_size)


def misreads(path, pixels: np.ndarray) -> str | None:
    """How the training pipeline's decoder fails on `path` or gets other `pixels` than Pillow, if it does.

    Only TensorFlow's decoder can disagree (Pillow is the other loader's decoder), and only for formats
    other than JPEG and PNG: it cannot read 1-bit BMP files and reads palette BMP files as grey indices.
    """
    if FORMAT != "tf":
        return None
    import tensorflow as tf

    try:
        decoded = tf.io.decode_image(path.read_bytes(), channels=3, expand_animations=False).numpy()
    except tf.errors.OpError:
        return "TensorFlow, which loads the images for training, cannot decode it"
    if decoded.shape != pixels.shape or np.abs(decoded.astype(int) - pixels).mean() > 1:
        return "TensorFlow, which loads the images for training, reads other colours than the image holds"
    return None


def prepare_dataset(dataset, preprocess, max_batches: int | None):
    """`preprocess` applied to the images of each batch of a `tf.data` or Grain dataset; at most `max_batches`."""
    if FORMAT == "tf":
        import tensorflow as tf

        if preprocess:
            dataset = dataset.map(lambda images, labels: (preprocess(images), labels))
        if max_batches is not None:
            dataset = dataset.take(max_batches)
        return dataset.prefetch(tf.data.AUTOTUNE)  # the next batch loads while the model works
    import grain

    if preprocess:
        dataset = dataset.map(lambda batch: (preprocess(batch[0]), batch[1]))
    if max_batches is not None:
        dataset = grain.experimental.LimitIterDataset(dataset, max_batches)
    return dataset
