"""ResNet Lab's Streamlit dashboard: shared helpers (common), Plotly figures (figures) and the entry (Home)."""
