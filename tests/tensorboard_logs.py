"""Real TensorBoard event files for the tests, written with TensorBoard's own writer."""
from __future__ import annotations


class TensorBoardLog:
    """An event file in ``directory``; each step logs train/loss = 1/(step+1) and val/loss = 2/(step+1)."""

    def __init__(self, directory: str) -> None:
        from tensorboard.summary.writer.event_file_writer import EventFileWriter

        self.writer = EventFileWriter(directory)

    def write_steps(self, steps: range) -> None:
        from tensorboard.compat.proto.event_pb2 import Event
        from tensorboard.compat.proto.summary_pb2 import Summary

        for step in steps:
            summary = Summary(value=[Summary.Value(tag="train/loss", simple_value=1.0 / (step + 1)),
                                     Summary.Value(tag="val/loss", simple_value=2.0 / (step + 1))])
            self.writer.add_event(Event(step=step, wall_time=1000.0 + step, summary=summary))
        self.writer.flush()

    def close(self) -> None:
        self.writer.close()
