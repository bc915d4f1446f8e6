"""A training process for test_training's kill-and-resume test.

Usage: resume_worker.py BACKUP_DIR LOG RESULT PAUSE_EPOCH. Trains a head (notebook 06's setup: Adam,
BackupAndRestore) for 6 epochs of 10 batches on fixed vectors, logging each epoch's begin and end to
LOG. With PAUSE_EPOCH >= 0 it writes "paused" in the middle of that epoch and waits to be killed.
At the end it saves the head's weights and the optimizer's step count to RESULT.
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

import keras
import numpy as np

from workbook import models


class EpochLog(keras.callbacks.Callback):
    def __init__(self, log: Path, pause_epoch: int):
        super().__init__()
        self.log, self.pause_epoch, self.epoch = log, pause_epoch, None

    def write(self, line: str) -> None:
        with self.log.open("a") as file:
            file.write(line + "\n")

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch = epoch
        self.write(f"begin {epoch}")

    def on_train_batch_begin(self, batch, logs=None):
        if self.epoch == self.pause_epoch and batch == 5:
            self.write("paused")
            time.sleep(600)

    def on_epoch_end(self, epoch, logs=None):
        self.write(f"end {epoch}")


def main(backup: str, log: str, result: str, pause_epoch: str) -> None:
    rng = np.random.default_rng(0)
    vectors = rng.normal(size=(320, 2048)).astype("float32")
    labels = np.eye(10, dtype="float32")[rng.integers(0, 10, 320)]
    keras.utils.set_random_seed(1)
    head = models.make_head(learning_rate=0.01)
    callbacks = [keras.callbacks.BackupAndRestore(backup), EpochLog(Path(log), int(pause_epoch))]
    head.fit(vectors, labels, batch_size=32, epochs=6, shuffle=False, callbacks=callbacks, verbose=0)
    weights = {f"weight_{index}": value for index, value in enumerate(head.get_weights())}
    np.savez(result, iterations=int(head.optimizer.iterations), **weights)


if __name__ == "__main__":
    main(*sys.argv[1:])
