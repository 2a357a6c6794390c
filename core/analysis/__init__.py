"""What is computed from stored runs: comparisons across depth and family (compare) within one training budget
(budget), the lesion study, loss landscapes and feature maps (lesion, landscape, features, inside), attribution
maps and out-of-distribution checks for one image (attribution, ood), and the paper's numbers (paper)."""
