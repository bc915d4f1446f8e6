"""A local web service for an exported model: `python -m workbook serve MODEL.onnx` (notebook 13).

FastAPI with uvicorn, onnxruntime, numpy and Pillow: no Keras, no TensorFlow. `POST /predict` takes an
image file (multipart form field `file`) and answers the top 3 classes as JSON; `GET /` is a page where a
person uploads a photo. Every bad request gets a 4xx with a sentence saying what was wrong; the service
reads no file a request names, and bounds each request's size and decoding time.
"""

from __future__ import annotations

import asyncio
import html
from pathlib import Path

from fastapi import FastAPI, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import HTMLResponse, JSONResponse

from workbook import serving

MAX_UPLOAD_BYTES = 10_000_000  # 10 MB: a phone photo is 2-6 MB
DECODE_SECONDS = 10.0  # the longest one request may take to decode and predict
FORMATS = "a JPEG, PNG, BMP or GIF image"


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


async def _upload(request: Request, max_bytes: int) -> bytes | JSONResponse:
    """The uploaded file's bytes, or the error response that says what was wrong with the request."""
    if not request.headers.get("content-type", "").startswith("multipart/form-data"):
        return _error(415, f"Send the image as a multipart form upload with the field `file` ({FORMATS}).")
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        return _error(413, f"The request is over the {max_bytes / 1e6:g} MB limit: send a smaller image.")
    body = bytearray()
    async for chunk in request.stream():  # counted as it arrives, whatever Content-Length said
        body += chunk
        if len(body) > max_bytes:
            return _error(413, f"The request is over the {max_bytes / 1e6:g} MB limit: send a smaller image.")
    request._body = bytes(body)  # Starlette parses the form from the body already read
    try:
        form = await request.form(max_files=1, max_fields=1)
    except Exception:  # noqa: BLE001 - Starlette raises several kinds for a malformed form
        return _error(400, f"The form could not be read: send {FORMATS} in the field `file`.")
    upload = form.get("file")
    if upload is None or isinstance(upload, str):
        return _error(400, f"The form has no file in the field `file`: send {FORMATS} there.")
    return await upload.read()


def create_app(
    model_path: str | Path, max_bytes: int = MAX_UPLOAD_BYTES, max_pixels: int = serving.MAX_PIXELS
) -> FastAPI:
    """The service for one exported model (an ONNX file written by `serving.export_onnx`)."""
    predictor = serving.Predictor(model_path)
    app = FastAPI(title="Clothing classifier", docs_url=None, redoc_url=None)

    def predict(data: bytes) -> list[serving.Prediction]:
        serving.check_image(data, max_pixels)
        return predictor.predict(data)

    @app.post("/predict")
    async def predict_endpoint(request: Request):
        data = await _upload(request, max_bytes)
        if isinstance(data, JSONResponse):
            return data
        try:
            top = await asyncio.wait_for(run_in_threadpool(predict, data), DECODE_SECONDS)
        except serving.ImageRejected as error:
            return _error(error.status, str(error))
        except TimeoutError:
            return _error(422, f"The image took over {DECODE_SECONDS:g} s to decode: send a smaller or simpler one.")
        return {"predictions": [{"class": item.name, "probability": round(item.probability, 4)} for item in top]}

    @app.get("/", response_class=HTMLResponse)
    async def page():
        return PAGE.replace("{classes}", html.escape(", ".join(predictor.class_names)))

    return app


def serve(model_path: str | Path, host: str = "127.0.0.1", port: int = 8000) -> None:
    """Run the service with uvicorn until interrupted (Ctrl+C)."""
    import uvicorn

    if host not in ("127.0.0.1", "localhost", "::1"):
        print(f"Warning: listening on {host}: other computers on the network can send images to this service.")
    uvicorn.run(create_app(model_path), host=host, port=port, log_level="info")


PAGE = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Clothing classifier</title>
<style>body{font-family:sans-serif;max-width:40em;margin:2em auto}img{max-width:300px;display:block;margin:1em 0}
#error{color:#b00}</style></head>
<body><h1>Clothing classifier</h1>
<p>Choose a photo of a piece of clothing (JPEG, PNG, BMP or GIF). Classes: {classes}.</p>
<form id="form"><input type="file" id="file" name="file" accept="image/*"> <button type="submit">Predict</button></form>
<img id="preview" alt="" hidden><ol id="predictions"></ol><p id="error" role="alert"></p>
<script>
document.getElementById("form").addEventListener("submit", async (event) => {
  event.preventDefault();
  const file = document.getElementById("file").files[0];
  const list = document.getElementById("predictions"), error = document.getElementById("error");
  const preview = document.getElementById("preview");
  list.innerHTML = ""; error.textContent = ""; preview.hidden = true;
  if (!file) { error.textContent = "Choose a file first."; return; }
  const body = new FormData(); body.append("file", file);
  const response = await fetch("/predict", {method: "POST", body});
  const answer = await response.json();
  if (!response.ok) { error.textContent = answer.error; return; }
  preview.src = URL.createObjectURL(file); preview.hidden = false;
  for (const item of answer.predictions) {
    const line = document.createElement("li");
    line.textContent = `${item.class}: ${item.probability.toFixed(3)}`;
    list.appendChild(line);
  }
});
</script></body></html>
"""
