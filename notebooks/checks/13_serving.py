"""Notebook 13 · Serving the model: the check-yourself quiz and the exercise checks.

For instructors: `truth` recomputes each answer, `solution` is code a student could write (the
tests run it through the check), `mistakes` are typical wrong answers with their hints. Exercise
1a needs the notebook's ONNX file: on a backend that writes none (JAX, `serving.ONNX_FAILS`) its
check says so instead of grading. The tests use a tiny ONNX model built by `context()`.
"""

import numpy as np

from workbook.checks import Choice, Exercise, Mistake, Question

QUIZ = (
    Question(
        "1",
        "What is an ONNX file for?",
        (
            Choice(
                "Running the trained model's computation and weights in runtimes other than the framework that trained it",
                "onnxruntime runs it from Python, C++, Java or JavaScript, with no Keras.",
                correct=True,
            ),
            Choice(
                "Training the model faster",
                "training stays in Keras; ONNX is for running the model once it is trained.",
            ),
            Choice(
                "Making the model file smaller",
                "it holds the same float32 weights, and is about as large as the .keras file.",
            ),
        ),
    ),
    Question(
        "2",
        "Why does the serving process need no Keras or TensorFlow?",
        (
            Choice(
                "The ONNX file holds the whole computation, preprocessing included, and reading a photo needs only numpy and Pillow",
                "onnxruntime runs the graph; `images.photo` decodes and resizes as training did.",
                correct=True,
            ),
            Choice(
                "onnxruntime contains a copy of Keras",
                "onnxruntime knows nothing of Keras: it runs the ONNX operators stored in the file.",
            ),
            Choice(
                "The server applies Xception's preprocessing itself, so the framework is not needed",
                "the preprocessing is the model's first layer, inside the file; the server only reads the photo.",
            ),
        ),
    ),
    Question(
        "3",
        "What do the service's limits (50 megapixels, 10 MB a request) protect?",
        (
            Choice(
                "The server: one request cannot use up its memory or time, and it keeps serving the others",
                "a small compressed file can decode to a huge image, so the pixels are checked before decoding.",
                correct=True,
            ),
            Choice(
                "The model, which cannot take larger images",
                "every image is resized to the model's size anyway; the limits are for the server, not the model.",
            ),
            Choice(
                "The speed of ordinary photos",
                "a phone photo is well under both limits; they stop the rare request that would exhaust the server.",
            ),
        ),
    ),
    Question(
        "4",
        "Why does `python -m workbook serve` listen on 127.0.0.1 unless `--host` says otherwise?",
        (
            Choice(
                "Only this computer can then send it requests",
                "other computers on the network cannot reach it until you choose to open it.",
                correct=True,
            ),
            Choice(
                "It answers faster there than on a network address",
                "the speed is the same; the address decides who can send it images.",
            ),
            Choice(
                "uvicorn cannot listen on other addresses",
                "`--host` makes it listen elsewhere (with a warning that others can then reach it).",
            ),
        ),
    ),
    Question(
        "5",
        "Why does `serving.export_onnx` store the class names in the ONNX file's metadata?",
        (
            Choice(
                "The model outputs ten numbers; the names, in their order, say which class each is, so the file is all a server needs",
                "the server reads them from the file instead of from the training folders.",
                correct=True,
            ),
            Choice(
                "onnxruntime needs them to run the model",
                "onnxruntime runs the graph without them; `serving.Predictor` reads them to name the outputs.",
            ),
            Choice(
                "They set the order of the probabilities",
                "training fixed that order; the names only label it.",
            ),
        ),
    ),
)


def _sum_of_probabilities(onnx_path, photo):
    """All the model's probabilities for the photo, added up (ten classes: the same as the top ten)."""
    from workbook import serving

    predictor = serving.Predictor(onnx_path)
    return float(predictor.probabilities(predictor.tensor(photo))[0].astype("float64").sum())


def _sum_of_top(onnx_path, photo, top=10):
    """What a student writes: the probabilities of `predictor.predict(photo, top=...)`, added up."""
    from workbook import serving

    return sum(item.probability for item in serving.Predictor(onnx_path).predict(photo, top=top))


def _logits_back():
    """What np.log of a softmax's output gives back: "a" the logits plus a constant, "b" the logits, "c" a multiple."""
    logits = np.random.default_rng(0).normal(size=10)
    recovered = np.log(np.exp(logits) / np.exp(logits).sum())
    if np.allclose(recovered, logits):
        return "b"
    if np.allclose(recovered - logits, (recovered - logits)[0]):
        return "a"
    if np.allclose(recovered / logits, (recovered / logits)[0]):
        return "c"
    return "d"


def _heic_status():
    """The status the service answers a HEIC upload with: the first bytes of a HEIC file, checked as it checks them."""
    from workbook import serving

    try:
        serving.check_image(b"\0\0\0\x18ftypheic" + bytes(64))
    except serving.ImageRejected as error:
        return error.status
    return 200


EXERCISES = (
    Exercise(
        "1a",
        "what the ten probabilities of `predictor.predict(photo, top=10)` add up to (a number)",
        context="onnx_path=onnx_path, photo=photo",
        truth=_sum_of_probabilities,
        solution=_sum_of_top,
        tolerance=0.01,
        hint="ask for all ten classes (top=10) and add their probabilities; what does the model's last layer do?",
        mistakes=(
            Mistake(
                lambda onnx_path, photo: _sum_of_top(onnx_path, photo, top=3),
                "that is the sum of the default top 3; pass top=10 to get every class.",
            ),
        ),
        needs="onnx",
    ),
    Exercise(
        "1b",
        'up to what `np.log(probabilities)` recovers the logits: "a" a constant added to all ten, "b" exactly, "c" a common factor, "d" not at all',
        truth=_logits_back,
        solution=lambda: "a",
        hint="try it: take ten numbers, apply a softmax, take the log and compare with the numbers.",
        mistakes=(
            Mistake(
                lambda: "b",
                "a softmax gives the same output when every logit moves by the same amount: which amount was it?",
            ),
            Mistake(lambda: "c", "the log undoes the exponential; look at what the division by the sum becomes."),
            Mistake(lambda: "d", "the log undoes most of the softmax; compare np.log(probabilities) with the logits."),
        ),
        options={"a": "a constant added", "b": "exactly", "c": "a common factor", "d": "not at all"},
    ),
    Exercise(
        "3",
        "the HTTP status code the service answers a HEIC photo with (a number)",
        truth=_heic_status,
        solution=lambda: 415,
        hint="read the status the page's request gets (the browser's network tab, or `reply.status_code` with the TestClient).",
        mistakes=(
            Mistake(
                lambda: 400, "a HEIC photo is a real image, in a format the service does not read: which 4xx says so?"
            ),
            Mistake(lambda: 413, "that is for too many pixels or bytes; a phone's HEIC photo is under both limits."),
            Mistake(lambda: 200, "the service cannot decode HEIC with Pillow alone: it refuses the upload."),
        ),
    ),
    Exercise(
        "4",
        'why 8 clients do not get eight times the throughput of 1 on 2 cores: "a" onnxruntime already spreads one image over both cores, so the other requests wait; "b" Python runs one request at a time; "c" the network is the bottleneck',
        truth=lambda: "a",
        solution=lambda: "a",
        hint="how many cores does one prediction already use, and what do the other clients do meanwhile?",
        mistakes=(
            Mistake(
                lambda: "b",
                "onnxruntime computes outside Python's lock and the service runs predictions in a thread pool; count the cores instead.",
            ),
            Mistake(lambda: "c", "client and server run on the same computer: no network is in the way."),
        ),
        options={"a": "the cores are busy already", "b": "Python runs one at a time", "c": "the network"},
    ),
)


def context():
    """A tiny ONNX model (8-px input, ten classes, a softmax at the end) and a photo, for the tests."""
    import json
    import tempfile
    from pathlib import Path

    import onnx
    from onnx import TensorProto, helper, numpy_helper
    from PIL import Image

    from workbook import serving

    rng = np.random.default_rng(0)
    weights = numpy_helper.from_array((rng.normal(size=(3, 10)) * 0.02).astype(np.float32), "weights")
    bias = numpy_helper.from_array(rng.normal(size=10).astype(np.float32), "bias")
    nodes = [
        helper.make_node("ReduceMean", ["inputs"], ["mean"], axes=[1, 2], keepdims=0),
        helper.make_node("MatMul", ["mean", "weights"], ["scaled"]),
        helper.make_node("Add", ["scaled", "bias"], ["logits"]),
        helper.make_node("Softmax", ["logits"], ["probabilities"], axis=-1),
    ]
    graph = helper.make_graph(
        nodes,
        "tiny",
        [helper.make_tensor_value_info("inputs", TensorProto.FLOAT, ["batch", 8, 8, 3])],
        [helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["batch", 10])],
        [weights, bias],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    names = [f"class{index}" for index in range(10)]
    for key, value in {serving.CLASS_NAMES_KEY: json.dumps(names), serving.IMAGE_SIZE_KEY: "8"}.items():
        model.metadata_props.add(key=key, value=value)
    folder = tempfile.TemporaryDirectory()
    onnx_path, photo = Path(folder.name) / "tiny.onnx", Path(folder.name) / "photo.png"
    onnx.save(model, str(onnx_path))
    Image.fromarray(rng.integers(0, 256, (20, 20, 3), dtype=np.uint8)).save(photo)
    return {"onnx_path": onnx_path, "photo": photo, "folder": folder}  # the folder lives as long as the context
