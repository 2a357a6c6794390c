"""Numbers from He et al. 2015 (arXiv 1512.03385) and a well-known reimplementation, in one place."""

# Table 6: CIFAR-10 test error (%) of the ResNets (option A, 164 epochs); 110 is the best of 5 runs.
TABLE6_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
# Table 6: parameters in millions (a plain net of equal depth has the same count).
TABLE6_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}
SOURCE = "He et al. 2015, Table 6 (CIFAR-10, 164 epochs)"
# akamaster/pytorch_resnet_cifar10, 200 epochs.
REIMPLEMENTATION_TEST_ERROR = {20: 8.27, 32: 7.37, 44: 6.90, 56: 6.61, 110: 6.32, 1202: 6.18}
