"""Reads a TensorBoard log folder with TensorBoard's own EventAccumulator and prints its scalars as JSON
({tag: [[step, value], ...]}); used by train/tensorboard.test.ts to check steel's event files."""
import json, sys

from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

acc = EventAccumulator(sys.argv[1], size_guidance={"scalars": 0})
acc.Reload()
out = {tag: [[e.step, e.value] for e in acc.Scalars(tag)] for tag in acc.Tags()["scalars"]}
print(json.dumps(out))
