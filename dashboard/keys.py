"""Widget keys, one per widget across all pages: each is also the widget's query parameter in a lesson link."""

CMP_PERCENT = "cmp_pct"  # Compare: error and accuracy on a fixed 0–100% axis
