"""ResNet Lab's engine: CIFAR ResNets and plain nets, training with probes, the run store, analyses and the CLI.

Four layers, each importing only the ones below it (``tests/test_layers.py`` checks it):

    cli/       the command line (``python -m core``, ``resnet-lab``): parsers, handlers, one JSON printer
    analysis/  what is computed from stored runs: comparisons and budgets, lesion, landscape, features,
               attribution, out-of-distribution checks, the paper's numbers
    runs/      runs as things that live: the store (all SQL), their lifecycle, the queue and its backends
               (worker processes, Ray), sweeps, reference sets, lesson files
    engine/    networks, data, configs, the training loop and its probes; it knows no store

Nothing here imports Streamlit; the dashboard (``dashboard/``, ``pages/``) is a thin layer over these modules.
"""
