"""Session-state keys of the widgets, one home for each. A widget bound to the URL (``bind="query-params"``)
shows its key as the query parameter, so keys are short, readable and unique across every page."""

# Runs page: the filters (in the URL, so a link opens the same selection)
RUNS_DATASET = "runs_data"
RUNS_FAMILY = "runs_family"
RUNS_DEPTH = "runs_depth"
RUNS_RECIPE = "runs_recipe"
RUNS_TAG = "runs_tag"
# Runs page: teacher actions (never in a URL)
RUNS_PICK = "runs_pick"
RUNS_EXPORT_TITLE = "runs_export_title"
RUNS_EXPORT_PREPARE = "runs_export_prepare"
RUNS_EXPORT_FILE = "runs_export_file"        # the prepared lesson file (not a widget): (file name, bytes, summary)
RUNS_IMPORT_UPLOAD = "runs_import_upload"
RUNS_IMPORT_OVERWRITE = "runs_import_overwrite"
RUNS_IMPORT_BUTTON = "runs_import_button"
RUNS_NOTE = "runs_note"                      # what the last action did, shown after the page reruns (not a widget)
