"""Widget keys: each is also the widget's query-parameter name (bind="query-params"), unique across all pages."""
# Train page, sweep panel
SWEEP_PRESET = "sweep"
SWEEP_SEEDS = "sweep_seeds"
SWEEP_DATA = "sweep_data"
SWEEP_START = "sweep_start"   # a button: not bound to the URL
