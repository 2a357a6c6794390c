"""The frozen, validated description of one training run, and its content-hash id."""

import dataclasses
import hashlib
import json
from dataclasses import dataclass, fields

from .models import INITS, SHORTCUTS, TORCHVISION_MODEL, model_name

ARCHS = ("cifar", TORCHVISION_MODEL)
RECIPES = ("paper", "seed")
SCHEDULES = ("step", "cosine", "constant")
DEVICES = ("auto", "cpu", "cuda")
PRECISIONS = ("auto", "fp32", "bf16")
DATASET_NAMES = ("builtin", "cifar10")
# (training, test) images of each data set: the largest subsets a run can ask for.
DATASET_SIZES = {"builtin": (20_000, 4_000), "cifar10": (50_000, 10_000)}
MAX_TRAIN, MAX_TEST = (max(sizes) for sizes in zip(*DATASET_SIZES.values()))

# What each recipe means when a field is left as None.
RECIPE_DEFAULTS = {
    # He et al. 2015's settings: SGD momentum 0.9, wd 1e-4, lr 0.1, batch 128, pad-crop-flip. Its schedule
    # (/10 at 32k and 48k of 64k iterations) is scaled to the run: /10 at 50% and 75% of its steps.
    "paper": dict(optimizer="sgd", batch_size=128, lr=0.1, schedule="step", augment=True),
    # Seed study 001: Adam with default parameters, batch 32, no augmentation, constant lr.
    "seed": dict(optimizer="adam", batch_size=32, lr=1e-3, schedule="constant", augment=False),
}
# Names for run labels and menus: what each recipe is, not only where it came from ("seed" would read as a random
# seed).
RECIPE_NAMES = {"paper": "SGD (paper's settings)", "seed": "Adam (seed study)"}
RECIPE_SHORT = {"paper": "SGD", "seed": "Adam"}  # ...when the run changes some of those settings
RECIPE_DESCRIPTIONS = {
    "paper": "SGD as in He et al. 2015: momentum 0.9, weight decay 1e-4, lr 0.1, batch 128, pad-4 crop + flip; "
    "lr ÷10 at 50% and 75% of the run (the paper: at 32k and 48k of 64k iterations, about 164 epochs)",
    "seed": "Adam as in seed study 001: lr 0.001 and Adam's other defaults, no weight decay, batch 32, constant lr, "
    "no augmentation",
}
SCHEDULE_NAMES = {"step": "÷10 at 50% and 75%", "cosine": "cosine decay", "constant": "constant lr"}
# The paper warms ResNet-110 up at lr 0.01 for about 400 iterations (its recipe's rule: at most 10% of a run).
WARMUP_MIN_DEPTH, WARMUP_STEPS, WARMUP_FACTOR = 110, 400, 0.1
MAX_WARMUP = 100_000
# Fields a run may set to change its recipe; None keeps the recipe's.
OVERRIDES = ("batch_size", "lr", "schedule", "augment", "warmup", "warmup_ramp")
# Fields that do not change what a run computes, so they stay out of its id.
NOT_HASHED = ("device", "compile", "num_cpus", "num_gpus")
# ...and with these, fields that change neither the weights nor the curves (probes only read): runs that
# differ only here are the same experiment.
SAME_TRAINING = NOT_HASHED + ("probe_every",)


def steps_per_epoch(n_train: int, batch_size: int) -> int:
    """Optimizer steps in one epoch: the ragged last batch is dropped, as fast trainers do."""
    return max(1, n_train // min(batch_size, n_train))


def exact_number(x: float) -> str:
    """A number as short as it can be written without changing it: 0.1, 3e-05, 0.12345678."""
    short = f"{x:g}"
    return short if float(short) == x else repr(float(x))


class ConfigError(ValueError):
    """An invalid config value; the message names the field and the allowed values."""

    def __init__(self, field: str, message: str):
        super().__init__(f"{field}: {message}")
        self.field = field


def _check_int(name, value, lo, hi, optional=False):
    if value is None and optional:
        return
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise ConfigError(name, f"must be an integer in [{lo}, {hi}]{' or unset' if optional else ''}, got {value!r}")


def _check_choice(name, value, choices):
    if value not in choices:
        raise ConfigError(name, f"must be one of {', '.join(map(str, choices))}; got {value!r}")


@dataclass(frozen=True)
class RunConfig:
    arch: str = "cifar"  # 'cifar' (6n+2 net of the paper) or 'torchvision-resnet18'
    depth: int = 20  # 6n+2: 20, 32, 44, 56, 110, ... (ignored by torchvision-resnet18)
    shortcut: str = "A"  # A | B | none (plain) | concat (concatenate + 1x1 merge)
    bn: bool = True
    init: str = "kaiming"  # kaiming (paper) | default (PyTorch's, as seed 001)
    dataset: str = "builtin"  # builtin (offline Shapes-10) | cifar10
    subset: int | None = None  # training images used (class-balanced); None = all
    test_subset: int | None = None  # test images used; None = all
    recipe: str = "paper"  # paper (SGD, the paper's settings) | seed (Adam, batch 32: seed study 001)
    epochs: int = 10
    batch_size: int | None = None  # None = the recipe's
    lr: float | None = None  # None = the recipe's
    schedule: str | None = None  # step (/10 at 50%, 75%) | cosine | constant; None = the recipe's
    augment: bool | None = None  # pad-4 crop + flip; None = the recipe's
    warmup: int | None = None  # steps at lr/10 before the schedule; None = the recipe's (see recipe_warmup)
    warmup_ramp: bool = False  # the warm-up rises linearly to lr (Goyal et al. 2017) instead of holding lr/10
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda
    precision: str = "auto"  # auto (bf16 on GPU and on CPUs with native bf16, else fp32) | fp32 | bf16
    probe_every: int = 50  # steps between gradient probes; 0 = never
    compile: bool = False  # torch.compile the training step's network (fewer kernel launches on a GPU)
    num_cpus: float = 1.0  # CPU cores a cluster worker reserves for the run (Ray backend)
    num_gpus: float | None = None  # GPUs it reserves, fractional to share one (0.25: four runs a GPU); None = a
    #                                 quarter GPU where the cluster has GPUs and the device is not 'cpu', else none

    def __post_init__(self):
        _check_choice("arch", self.arch, ARCHS)
        if self.arch == "cifar":
            _check_int("depth", self.depth, 8, 1202)
            if (self.depth - 2) % 6:
                raise ConfigError("depth", f"must be 6n+2 (8, 14, 20, 26, 32, 44, 56, 110, ...), got {self.depth}")
        _check_choice("shortcut", self.shortcut, SHORTCUTS)
        if not isinstance(self.bn, bool):
            raise ConfigError("bn", f"must be true or false, got {self.bn!r}")
        _check_choice("init", self.init, INITS)
        _check_choice("dataset", self.dataset, DATASET_NAMES)
        _check_int("subset", self.subset, 1, MAX_TRAIN, optional=True)
        _check_int("test_subset", self.test_subset, 1, MAX_TEST, optional=True)
        _check_choice("recipe", self.recipe, RECIPES)
        _check_int("epochs", self.epochs, 1, 500)
        _check_int("batch_size", self.batch_size, 1, 4096, optional=True)
        if self.lr is not None and (
            isinstance(self.lr, bool) or not isinstance(self.lr, (int, float)) or not 0 < self.lr <= 10
        ):
            raise ConfigError("lr", f"must be a number in (0, 10] or unset, got {self.lr!r}")
        if self.schedule is not None:
            _check_choice("schedule", self.schedule, SCHEDULES)
        if self.augment is not None and not isinstance(self.augment, bool):
            raise ConfigError("augment", f"must be true, false or unset, got {self.augment!r}")
        _check_int("warmup", self.warmup, 0, MAX_WARMUP, optional=True)
        if not isinstance(self.warmup_ramp, bool):
            raise ConfigError("warmup_ramp", f"must be true or false, got {self.warmup_ramp!r}")
        if self.warmup_ramp and not (self.warmup or (self.warmup is None and self.recipe_warmup)):
            raise ConfigError("warmup_ramp", "ramps a warm-up, so it needs warm-up steps (warmup > 0)")
        _check_int("seed", self.seed, 0, 2**31 - 1)
        _check_choice("device", self.device, DEVICES)
        _check_choice("precision", self.precision, PRECISIONS)
        _check_int("probe_every", self.probe_every, 0, 1_000_000)
        if not isinstance(self.compile, bool):
            raise ConfigError("compile", f"must be true or false, got {self.compile!r}")
        if (
            isinstance(self.num_cpus, bool)
            or not isinstance(self.num_cpus, (int, float))
            or not 0 < self.num_cpus <= 256
        ):
            raise ConfigError("num_cpus", f"must be a number of CPU cores in (0, 256], got {self.num_cpus!r}")
        if self.num_gpus is not None:
            if (
                isinstance(self.num_gpus, bool)
                or not isinstance(self.num_gpus, (int, float))
                or not 0 <= self.num_gpus <= 64
            ):
                raise ConfigError("num_gpus", f"must be a number of GPUs in [0, 64] or unset, got {self.num_gpus!r}")
            if self.num_gpus > 1 and self.num_gpus != int(self.num_gpus):
                raise ConfigError(
                    "num_gpus", f"must be a fraction of one GPU (e.g. 0.25) or a whole number, got {self.num_gpus!r}"
                )

    def resolved(self) -> "RunConfig":
        """The same run with every recipe default written out, so equal runs hash equally."""
        defaults = RECIPE_DEFAULTS[self.recipe]
        changes = {k: defaults[k] for k in ("batch_size", "lr", "schedule", "augment") if getattr(self, k) is None}
        if self.arch == TORCHVISION_MODEL:  # fields that mean nothing for torchvision's net
            changes.update(depth=18, shortcut="B", bn=True)
        resolved = dataclasses.replace(self, **changes)
        if (
            resolved.warmup == 0 and resolved.recipe_warmup == 0
        ):  # no warm-up asked for, none in the recipe: the same run
            resolved = dataclasses.replace(resolved, warmup=None)
        return resolved

    @property
    def optimizer(self) -> str:
        return RECIPE_DEFAULTS[self.recipe]["optimizer"]

    @property
    def recipe_warmup(self) -> int:
        """The recipe's warm-up: the paper's 400 steps at lr/10 for its 110-layer nets, none otherwise."""
        paper_deep = self.recipe == "paper" and self.arch == "cifar" and self.depth >= WARMUP_MIN_DEPTH
        return WARMUP_STEPS if paper_deep else 0

    def total_steps(self, n_train: int) -> int:
        """Optimizer steps of the whole run on ``n_train`` training images (config must be resolved)."""
        return steps_per_epoch(n_train, self.batch_size) * self.epochs

    def warmup_for(self, total_steps: int) -> int:
        """Steps of warm-up (at lr × WARMUP_FACTOR, or ramped up to lr) in a run of ``total_steps``: the ``warmup``
        asked for, else the recipe's (capped at a tenth of the run, so a short run is not all warm-up)."""
        if self.warmup is not None:
            return min(self.warmup, total_steps)
        return min(self.recipe_warmup, total_steps // 10 + 1)

    @property
    def run_id(self) -> str:
        return self.training_key(NOT_HASHED)

    def training_key(self, ignore: tuple[str, ...] = SAME_TRAINING) -> str:
        """A hash of the resolved config without the ``ignore``d fields: equal keys, equal training."""
        items = {k: v for k, v in dataclasses.asdict(self.resolved()).items() if k not in ignore}
        if items.get("warmup", 0) is None:  # runs stored before warm-up could be chosen keep their ids
            del items["warmup"]
        if not items.get("warmup_ramp", True):  # ...and before it could be ramped
            del items["warmup_ramp"]
        return hashlib.sha256(json.dumps(items, sort_keys=True).encode()).hexdigest()[:12]

    @property
    def model_name(self) -> str:
        return model_name(self.arch, self.depth, self.shortcut, self.bn)

    @property
    def label(self) -> str:
        """A short legend entry: model, recipe and what differs from the recipe's defaults. Exact (no rounding),
        so runs that train differently never share a label."""
        parts = [self.model_name]
        if self.init != "kaiming":
            parts.append(f"{self.init} init")
        changes = self.recipe_changes()
        parts.append((RECIPE_SHORT if changes else RECIPE_NAMES)[self.recipe])
        parts += changes
        parts.append(f"{self.epochs} ep")
        if self.subset:
            parts.append(f"{self.subset:,} imgs")
        if self.test_subset:
            parts.append(f"{self.test_subset:,} test imgs")
        if self.seed:
            parts.append(f"seed {self.seed}")
        if self.precision != "auto":
            parts.append(self.precision)
        text = parts[0] + " · " + ", ".join(parts[1:])
        return text + (" · CIFAR-10" if self.dataset == "cifar10" else "")

    def recipe_changes(self) -> list[str]:
        """What this run changes in its recipe, in words ('lr 0.003', 'batch 16', 'cosine decay', ...)."""
        changed, words = self.changed_from_recipe(), []
        if "lr" in changed:
            words.append(f"lr {exact_number(self.lr)}")
        if "batch_size" in changed:
            words.append(f"batch {self.batch_size}")
        if "schedule" in changed:
            words.append(SCHEDULE_NAMES[self.schedule])
        if "augment" in changed:
            words.append("crop + flip" if self.augment else "no augmentation")
        ramped = "ramped " if self.warmup_ramp else ""
        if "warmup" in changed:
            words.append(f"{ramped}warm-up {self.warmup:,} steps" if self.warmup else "no warm-up")
        elif "warmup_ramp" in changed:
            words.append("ramped warm-up")
        return words

    def changed_from_recipe(self) -> tuple[str, ...]:
        """The OVERRIDES this run sets to something other than its recipe's (the ones its label names)."""
        defaults = {**RECIPE_DEFAULTS[self.recipe], "warmup": None, "warmup_ramp": False}
        resolved = self.resolved()
        return tuple(k for k in OVERRIDES if getattr(self, k) is not None and getattr(resolved, k) != defaults[k])

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, d: dict) -> "RunConfig":
        known = {f.name for f in fields(cls)}
        unknown = set(d) - known
        if unknown:
            raise ConfigError(sorted(unknown)[0], f"unknown field; known fields: {', '.join(sorted(known))}")
        return cls(**d)

    @classmethod
    def from_stored(cls, d: dict) -> tuple["RunConfig", dict]:
        """A config read back from a store, and the fields this version does not know (a newer version
        wrote them): those are kept aside to be shown, not refused. Known fields are still validated."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in d.items() if k in known}), {k: v for k, v in d.items() if k not in known}
