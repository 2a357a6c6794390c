"""Runs as things that live: the SQLite + safetensors store (store; all SQL is there), what each status means and
allows (lifecycle), training one run into the store (execute), the queue's backends (backends: local worker
processes; ray_jobs: a Ray cluster) and the process's choice between them (jobs), sweeps, the shipped reference
sets (reference), lesson files (archive), finding runs (catalog) and whether a run learned (verdict)."""
