"""The engine: networks (models), data sets and augmentation (data), the validated run config (config), the
training loop (train) with its history writer (history) and probes (probes). It trains into any
``train.TrainingSink`` and never imports the run store."""
