"""Sensors: the upload-folder sensor that turns each dropped file into a video run."""
