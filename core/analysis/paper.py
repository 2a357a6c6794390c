"""Numbers from He et al. 2015 (arXiv 1512.03385) and a well-known reimplementation, in one place."""

# Table 6: CIFAR-10 test error (%) of the ResNets (option A, 164 epochs); 110 is the best of 5 runs.
TABLE6_TEST_ERROR = {20: 8.75, 32: 7.51, 44: 7.17, 56: 6.97, 110: 6.43, 1202: 7.93}
# Table 6: parameters in millions (a plain net of equal depth has the same count).
TABLE6_PARAMS_M = {20: 0.27, 32: 0.46, 44: 0.66, 56: 0.85, 110: 1.7, 1202: 19.4}
SOURCE = "He et al. 2015, Table 6 (CIFAR-10, 164 epochs)"
# Table 6's 110-layer entry is the best of 5 runs; their mean and std (the paper's text beside the table).
TABLE6_110_MEAN_STD = (6.61, 0.16)
# The training Table 6 stands for: 64k iterations of batch 128 on all 50k images, tested on all 10k.
TABLE6_ITERATIONS, TABLE6_BATCH = 64_000, 128
# ...its schedule: lr 0.1, divided by 10 at these iterations (Sec. 4.2).
TABLE6_LR, TABLE6_LR_DROPS = 0.1, (32_000, 48_000)
# Table 3: ImageNet top-1 error (%, 10-crop) of ResNet-34 with shortcut options A, B and C.
TABLE3_TOP1 = {"A": 25.03, "B": 24.52, "C": 24.19}
TABLE3_SOURCE = "He et al. 2015, Table 3 (ImageNet, ResNet-34, 10-crop top-1 error)"
# akamaster/pytorch_resnet_cifar10, 200 epochs.
REIMPLEMENTATION_TEST_ERROR = {20: 8.27, 32: 7.37, 44: 6.90, 56: 6.61, 110: 6.32, 1202: 6.18}
