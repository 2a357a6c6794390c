"""ResNet Lab's engine: CIFAR ResNets and plain nets, data, training with probes, and the run store.

Nothing here imports Streamlit; the dashboard is a thin layer over these modules.
"""
