"""Widget keys: each is also the widget's query-parameter name (``bind="query-params"``), so it is short,
readable and unique across every page. Session-state keys that are not widgets live beside their page."""

# Train: the advanced settings (each left at "the recipe's" stays out of the URL and out of the run's label)
LR = "lr"
BATCH = "batch"
SCHEDULE = "schedule"
AUGMENT = "augment"
WARMUP = "warmup"
# Train: how the charts are drawn
SMOOTHING = "smooth"
FULL_PERCENT = "y100"
# Train: the run the Watch view shows (set by the page, not bound to a widget: ?run=<id> opens that run)
RUN = "run"
