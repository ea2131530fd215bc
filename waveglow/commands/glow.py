"""`waveglow glow`: train, evaluate and explore image Glow models (train | eval | sample | interpolate | manifold |
manipulate).

A checkpoint is a directory (config.json + model.safetensors) that also records which data set it was trained on,
so the exploring commands find their images without repeating the data options.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path
from waveglow.common.errors import UserError
from waveglow.glow import COUPLINGS, Glow, GlowConfig, PERMUTATIONS
from waveglow.glow.checkpoint import load_glow, save_glow, save_grid
from waveglow.glow.model import (attribute_direction, flatten_latents, interpolate, manifold, manipulate,
                                 unflatten_latents)
from waveglow.glow.training import NearestClassMean, accuracy, evaluate_bpd, train_glow, train_small_convnet
from waveglow_data.images import DATASETS, load_image_dataset, to_unit


# ---- arguments ---------------------------------------------------------------------------------------------------
def _add_data_arguments(p: argparse.ArgumentParser, required: bool) -> None:
    g = p.add_argument_group("data" if required else "data (default: the checkpoint's)")
    g.add_argument("--data", choices=DATASETS, default="digits" if required else None,
                   help="image data set (default: %(default)s)")
    g.add_argument("--data-root", default=None,
                   help="directory or file of the data (fashion-mnist: default /usr/share/datasets/fashion-mnist)")
    g.add_argument("--n-bits", type=int, default=None,
                   help="reduce 8-bit data to 2^n levels (digits always use their 17 levels)")
    g.add_argument("--image-size", type=int, default=32, help="folder data: resize to this square size")
    g.add_argument("--grayscale", action="store_true", help="folder data: read as one channel")


def _add_checkpoint_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--checkpoint", "-c", required=True, help="checkpoint directory written by `glow train`")
    p.add_argument("--seed", type=int, default=0, help="random seed of sampling (default: %(default)s)")
    p.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")


def _add_checkpoint_command(sub, name: str, summary: str, test_images: bool) -> argparse.ArgumentParser:
    """The parser of an action reading a checkpoint (--checkpoint, --seed, --threads) and, with `test_images`, its
    data set (default: the checkpoint's)."""
    p = sub.add_parser(name, help=summary)
    _add_checkpoint_argument(p)
    if test_images:
        _add_data_arguments(p, required=False)
    return p


def _add_output_argument(p: argparse.ArgumentParser, default: str) -> None:
    p.add_argument("--out", "-o", default=default, help="PNG file to write (default: %(default)s)")
    p.add_argument("--upscale", type=int, default=0,
                   help="pixel repetition of the grid (default: 4 for images <= 16 px, 2 for <= 32, else 1)")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="glow_command", metavar="ACTION")
    sub.required = True

    p = sub.add_parser("train", help="train a Glow, then write the checkpoint, test bits/dim and samples")
    _add_data_arguments(p, required=True)
    m = p.add_argument_group("model")
    m.add_argument("--levels", "-L", type=int, default=3, help="levels (default: %(default)s)")
    m.add_argument("--depth", "-K", type=int, default=8, help="flow steps per level (default: %(default)s)")
    m.add_argument("--hidden", type=int, default=64, help="coupling network width (default: %(default)s)")
    m.add_argument("--permutation", choices=PERMUTATIONS, default="conv1x1", help="(default: %(default)s)")
    m.add_argument("--coupling", choices=COUPLINGS, default="affine", help="(default: %(default)s)")
    m.add_argument("--logit-alpha", type=float, default=0.05,
                   help="RealNVP logit pre-processing with this alpha; 0 = none, as in Glow (default: %(default)s)")
    m.add_argument("--no-learn-top", action="store_true", help="fixed N(0, 1) top prior")
    m.add_argument("--conditional", action="store_true", help="class-conditional top prior (needs labels)")
    m.add_argument("--class-weight", type=float, default=0.0,
                   help="weight of the classification head's loss, in bits (Glow paper; default: %(default)s)")
    t = p.add_argument_group("training")
    t.add_argument("--steps", type=int, default=2000, help="(default: %(default)s)")
    t.add_argument("--batch-size", type=int, default=64, help="(default: %(default)s)")
    t.add_argument("--lr", type=float, default=1e-3, help="Adam learning rate (default: %(default)s)")
    t.add_argument("--warmup", type=int, default=100, help="linear warm-up steps (default: %(default)s)")
    t.add_argument("--max-train", type=int, default=None, help="use only the first N training images")
    t.add_argument("--max-test", type=int, default=None, help="evaluate on the first N test images")
    t.add_argument("--seed", type=int, default=0, help="(default: %(default)s)")
    t.add_argument("--threads", type=int, default=1, help="torch CPU threads (default: %(default)s)")
    t.add_argument("--log-every", type=int, default=100, help="(default: %(default)s)")
    t.add_argument("--temperature", type=float, default=0.7, help="of the sample grid (default: %(default)s)")
    t.add_argument("--out", "-o", required=True, help="checkpoint directory to write")
    p.set_defaults(_action=_train)

    p = _add_checkpoint_command(sub, "eval", "test bits/dim of a checkpoint", test_images=True)
    p.add_argument("--max-test", type=int, default=None, help="evaluate on the first N test images")
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.add_argument("--judge-samples", type=int, default=0, metavar="N",
                   help="conditional models: draw N samples per class and report how often classifiers "
                        "trained on the real training images (a small CNN, nearest class mean) recover the class")
    p.add_argument("--temperature", "-t", type=float, default=0.7, help="of the judged samples (default: %(default)s)")
    p.add_argument("--judge-steps", type=int, default=1500,
                   help="training steps of the CNN judge (default: %(default)s)")
    p.set_defaults(_action=_eval)

    p = _add_checkpoint_command(sub, "sample", "a grid of samples at a temperature (per class for conditional models)",
                                test_images=False)
    p.add_argument("--n", type=int, default=64, help="samples (per class with --per-class; default: %(default)s)")
    p.add_argument("--temperature", "-t", type=float, default=0.7, help="(default: %(default)s)")
    p.add_argument("--label", type=int, default=None, help="class index to sample (conditional models)")
    p.add_argument("--per-class", action="store_true", help="one row of --n samples per class")
    p.add_argument("--nrow", type=int, default=8, help="images per row (default: %(default)s)")
    _add_output_argument(p, "glow_samples.png")
    p.set_defaults(_action=_sample)

    p = _add_checkpoint_command(sub, "interpolate", "decode linear paths between encoded test images", test_images=True)
    p.add_argument("--pairs", nargs="+", default=["0:1", "2:3", "4:5"],
                   help="test-image index pairs A:B, one row each (default: %(default)s)")
    p.add_argument("--steps", type=int, default=10, help="images per row, ends included (default: %(default)s)")
    _add_output_argument(p, "glow_interpolation.png")
    p.set_defaults(_action=_interpolate)

    p = _add_checkpoint_command(sub, "manifold", "the (t, p) manifold spanned by four encoded test images",
                                test_images=True)
    p.add_argument("--indices", type=int, nargs=4, default=[0, 1, 2, 3], metavar="I",
                   help="test images z1 z2 z3 z4 (default: 0 1 2 3)")
    p.add_argument("--grid", type=int, default=8, help="grid size (default: %(default)s)")
    _add_output_argument(p, "glow_manifold.png")
    p.set_defaults(_action=_manifold)

    p = _add_checkpoint_command(sub, "manipulate", "move encoded images along mean(z | positive) - mean(z | negative)",
                                test_images=True)
    p.add_argument("--attribute", choices=("class", "ink"), default="ink",
                   help="class: positive/negative are class indices; ink: heavy- vs light-stroke thirds of "
                        "the training images of --within (default: %(default)s)")
    p.add_argument("--positive", type=int, default=None, help="class of the positive subset (--attribute class)")
    p.add_argument("--negative", type=int, default=None, help="class of the negative subset (--attribute class)")
    p.add_argument("--within", type=int, default=None, help="ink: only training images of this class")
    p.add_argument("--images", type=int, nargs="+", default=[0, 1, 2, 3], help="test images to move")
    p.add_argument("--alphas", type=int, default=7, help="alphas evenly in [-1, 1] (default: %(default)s)")
    p.add_argument("--max-subset", type=int, default=1000, help="images per subset mean (default: %(default)s)")
    _add_output_argument(p, "glow_manipulation.png")
    p.set_defaults(_action=_manipulate)


def run(args: argparse.Namespace) -> int:
    import torch

    torch.set_num_threads(max(1, args.threads))
    return int(args._action(args) or 0)  # a DataError is a ToolkitError: the command line reports it


# ---- shared helpers ----------------------------------------------------------------------------------------------
def _data_options(args: argparse.Namespace, saved: dict | None = None) -> dict:
    """The data options to load: the command line's, else the ones saved in the checkpoint."""
    if getattr(args, "data", None) is not None:
        options = {"name": args.data, "root": args.data_root, "n_bits": args.n_bits}
        if args.data == "folder":  # only image folders are resized / converted
            options.update(image_size=args.image_size, grayscale=args.grayscale)
        return options
    if not saved:
        raise UserError("this checkpoint records no data set; pass --data")
    return saved


def _load_images(options: dict):
    """(dataset, train images, train labels, test images, test labels) as torch tensors in [0, 1]."""
    import torch

    ds = load_image_dataset(options["name"], options.get("root"), options.get("n_bits"),
                            options.get("image_size", 32), options.get("grayscale", False))
    as_unit = lambda a: torch.from_numpy(to_unit(a, ds.n_levels))  # noqa: E731
    return (ds, as_unit(ds.train_images), torch.from_numpy(ds.train_labels), as_unit(ds.test_images),
            torch.from_numpy(ds.test_labels))


def _load_checkpoint(args):
    return load_glow(args.checkpoint)


def _upscale(args, model) -> int:
    if getattr(args, "upscale", 0):
        return args.upscale
    size = max(model.config.image_size)
    return 4 if size <= 16 else 2 if size <= 32 else 1


def _check_indices(indices, count: int, what: str) -> None:
    bad = [i for i in indices if not 0 <= i < count]
    if bad:
        raise UserError(f"{what} index {bad[0]} out of range 0..{count - 1}")


def _checked_dataset(model, options):
    """Load the data and make sure it fits the model (shape and number of levels)."""

    data = _load_images(options)
    ds = data[0]
    if ds.image_shape != (model.config.in_channels, *model.config.image_size) or ds.n_levels != model.config.n_bins:
        raise UserError(f"data {ds.name} ({ds.image_shape}, {ds.n_levels} levels) does not fit the model "
                        f"({model.config.in_channels}x{model.config.image_size}, {model.config.n_bins} bins)")
    return data


def _write(path, images, nrow, upscale) -> None:
    save_grid(images, path, nrow=nrow, upscale=upscale)
    print(f"wrote {path}")


# ---- actions -----------------------------------------------------------------------------------------------------
def _train(args) -> int:
    import torch

    options = _data_options(args)
    ds, x_train, y_train, x_test, y_test = _load_images(options)
    if args.max_train:
        x_train, y_train = x_train[: args.max_train], y_train[: args.max_train]
    if args.max_test:
        x_test, y_test = x_test[: args.max_test], y_test[: args.max_test]
    if args.conditional and ds.n_classes < 2:
        raise UserError(f"{ds.name} has no class labels; drop --conditional")
    try:
        config = GlowConfig(in_channels=ds.image_shape[0], image_size=ds.image_shape[1:], levels=args.levels,
                            depth=args.depth, hidden=args.hidden, permutation=args.permutation,
                            coupling=args.coupling, n_bins=ds.n_levels, logit_alpha=args.logit_alpha,
                            learn_top=not args.no_learn_top,
                            n_classes=ds.n_classes if args.conditional else 0, class_weight=args.class_weight,
                            seed=args.seed)
    except ValueError as exc:
        raise UserError(str(exc)) from exc
    torch.manual_seed(args.seed)
    model = Glow(config)
    n_params = sum(p.numel() for p in model.parameters())
    print(f"glow train: {ds.name} {tuple(x_train.shape)} train / {len(x_test)} test, {config.n_bins} bins, "
          f"L={config.levels} K={config.depth} hidden={config.hidden} {config.permutation}/{config.coupling}"
          f"{' class-conditional' if config.n_classes else ''}, {n_params} parameters", flush=True)
    start = time.perf_counter()

    def log(step, stats):
        extra = "".join(f" {k} {v:.3f}" for k, v in stats.items() if k != "bpd")
        print(f"step {step:6d}  train bits/dim {stats['bpd']:.4f}{extra}  ({time.perf_counter() - start:.0f} s)",
              flush=True)

    result = train_glow(model, x_train, y_train if config.n_classes else None, steps=args.steps,
                        batch_size=args.batch_size, lr=args.lr, warmup=args.warmup, seed=args.seed,
                        log_every=args.log_every, on_log=log)
    metrics = {"steps": result.steps, "seconds": round(result.seconds, 1),
               "test_bpd": evaluate_bpd(model, x_test, y_test if config.n_classes else None)}
    if config.n_classes:
        metrics["test_bpd_marginal"] = evaluate_bpd(model, x_test, None)
    print("test bits/dim: " + ", ".join(f"{k} {v:.4f}" for k, v in metrics.items() if "bpd" in k))
    save_glow(model, args.out, {"data": options, "training": {**vars_for_json(args), **metrics}})
    print(f"wrote {args.out}")
    generator = torch.Generator().manual_seed(args.seed)
    if config.n_classes:
        y = torch.arange(config.n_classes).repeat_interleave(8)
        samples = model.sample(len(y), args.temperature, y, generator)
    else:
        samples = model.sample(64, args.temperature, generator=generator)
    _write(Path(args.out) / f"samples_t{args.temperature:g}.png", samples, 8, _upscale(args, model))
    return 0


def vars_for_json(args) -> dict:
    """The command-line options that are plain values (for the checkpoint's record of how it was trained)."""
    return {k: v for k, v in vars(args).items()
            if not k.startswith("_") and isinstance(v, (int, float, str, bool, type(None)))}


def _eval(args) -> int:
    model, saved = _load_checkpoint(args)
    _, x_train, y_train, x_test, y_test = _checked_dataset(model, _data_options(args, saved.get("data")))
    if args.max_test:
        x_test, y_test = x_test[: args.max_test], y_test[: args.max_test]
    result = {"test_images": len(x_test), "n_bins": model.config.n_bins}
    if model.config.n_classes:
        result["test_bpd_given_label"] = evaluate_bpd(model, x_test, y_test)
        result["test_bpd_marginal"] = evaluate_bpd(model, x_test, None)
    else:
        result["test_bpd"] = evaluate_bpd(model, x_test)
    if args.judge_samples:
        result.update(_judge_samples(args, model, x_train, y_train, x_test, y_test))
    if args.json:
        print(json.dumps(result))
    else:
        print("\n".join(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}" for k, v in result.items()))
    return 0


def _judge_samples(args, model, x_train, y_train, x_test, y_test) -> dict:
    """Accuracy of classifiers fitted on real training images, on real test images and on class-conditional
    samples (N per class at the given temperature); chance is 1 / n_classes."""
    import torch

    n_classes = model.config.n_classes
    if not n_classes:
        raise UserError("--judge-samples needs a class-conditional model")
    h, w = model.config.image_size
    cnn = train_small_convnet(x_train, y_train, n_classes, steps=args.judge_steps, seed=args.seed) \
        if h % 4 == 0 and w % 4 == 0 else None
    ncm = NearestClassMean(x_train, y_train, n_classes)
    y = torch.arange(n_classes).repeat_interleave(args.judge_samples)
    generator = torch.Generator().manual_seed(args.seed)
    samples = torch.cat([model.sample(len(chunk), args.temperature, chunk, generator) for chunk in y.split(500)])
    out = {"judge_temperature": args.temperature, "judge_samples_per_class": args.judge_samples,
           "chance": 1.0 / n_classes,
           "ncm_acc_real_test": accuracy(ncm.predict(x_test), y_test),
           "ncm_acc_samples": accuracy(ncm.predict(samples), y)}
    if cnn is not None:
        out["cnn_acc_real_test"] = accuracy(cnn.predict(x_test), y_test)
        out["cnn_acc_samples"] = accuracy(cnn.predict(samples), y)
        per_class = [accuracy(cnn.predict(samples[y == k]), y[y == k]) for k in range(n_classes)]
        out["cnn_acc_samples_per_class"] = [round(a, 3) for a in per_class]
    return out


def _sample(args) -> int:
    import torch

    model, _ = _load_checkpoint(args)
    n_classes = model.config.n_classes
    if (args.label is not None or args.per_class) and not n_classes:
        raise UserError("this model is not class-conditional; drop --label / --per-class")
    if args.label is not None and not 0 <= args.label < n_classes:
        raise UserError(f"--label must be in 0..{n_classes - 1}")
    generator = torch.Generator().manual_seed(args.seed)
    nrow = args.nrow
    if args.per_class:
        y = torch.arange(n_classes).repeat_interleave(args.n)
        nrow = args.n
    elif args.label is not None:
        y = torch.full((args.n,), args.label, dtype=torch.long)
    else:
        y = None
    images = model.sample(args.n if y is None else len(y), args.temperature, y, generator)
    _write(args.out, images, nrow, _upscale(args, model))
    return 0


def _encode_flat(model, images):
    return flatten_latents(model.encode(images))


def _decode_flat(model, flat):
    return model.decode(unflatten_latents(flat, model.latent_shapes))


def _interpolate(args) -> int:
    import torch

    model, saved = _load_checkpoint(args)
    _, _, _, x_test, _ = _checked_dataset(model, _data_options(args, saved.get("data")))
    try:
        pairs = [tuple(int(i) for i in pair.split(":")) for pair in args.pairs]
    except ValueError as exc:
        raise UserError(f"--pairs takes A:B index pairs ({exc})") from exc
    if any(len(p) != 2 for p in pairs):
        raise UserError("--pairs takes A:B index pairs")
    _check_indices([i for p in pairs for i in p], len(x_test), "test image")
    rows = []
    for a, b in pairs:
        z = _encode_flat(model, x_test[[a, b]])
        rows.append(_decode_flat(model, interpolate(z[0], z[1], args.steps)))
    _write(args.out, torch.cat(rows), args.steps, _upscale(args, model))
    return 0


def _manifold(args) -> int:
    model, saved = _load_checkpoint(args)
    _, _, _, x_test, _ = _checked_dataset(model, _data_options(args, saved.get("data")))
    _check_indices(args.indices, len(x_test), "test image")
    z = _encode_flat(model, x_test[args.indices])
    _write(args.out, _decode_flat(model, manifold(z[0], z[1], z[2], z[3], args.grid)), args.grid,
           _upscale(args, model))
    return 0


def ink_subsets(images, fraction: float = 1 / 3):
    """(heavy, light) boolean masks: the `fraction` of images with the most / least total intensity."""
    import torch

    ink = images.flatten(1).sum(1)
    order = torch.argsort(ink)
    count = max(1, int(len(images) * fraction))
    light = torch.zeros(len(images), dtype=torch.bool)
    heavy = torch.zeros(len(images), dtype=torch.bool)
    light[order[:count]] = True
    heavy[order[-count:]] = True
    return heavy, light


def _manipulate(args) -> int:
    import torch

    model, saved = _load_checkpoint(args)
    ds, x_train, y_train, x_test, _ = _checked_dataset(model, _data_options(args, saved.get("data")))
    _check_indices(args.images, len(x_test), "test image")
    if args.attribute == "class":
        if args.positive is None or args.negative is None:
            raise UserError("--attribute class needs --positive and --negative class indices")
        _check_indices([args.positive, args.negative], max(1, ds.n_classes), "class")
        positive, negative = y_train == args.positive, y_train == args.negative
        what = f"class {args.positive} minus class {args.negative}"
    else:
        pool = y_train == args.within if args.within is not None else torch.ones(len(y_train), dtype=torch.bool)
        if args.within is not None:
            _check_indices([args.within], max(1, ds.n_classes), "class")
        heavy, light = ink_subsets(x_train[pool])
        index = torch.nonzero(pool).squeeze(1)
        positive = torch.zeros_like(pool)
        negative = torch.zeros_like(pool)
        positive[index[heavy]] = True
        negative[index[light]] = True
        what = "heavy minus light strokes" + (f" within class {args.within}" if args.within is not None else "")
    z_pos = _encode_flat(model, x_train[positive][: args.max_subset])
    z_neg = _encode_flat(model, x_train[negative][: args.max_subset])
    direction = attribute_direction(z_pos, z_neg)
    alphas = [round(a, 6) + 0.0 for a in torch.linspace(-1.0, 1.0, args.alphas).tolist()]  # no "-0.00"
    moved = manipulate(_encode_flat(model, x_test[args.images]), direction, alphas)
    print(f"direction: {what} ({len(z_pos)} vs {len(z_neg)} images, |d| = {float(direction.norm()):.2f}); "
          f"alphas {', '.join(f'{a:+.2f}' for a in alphas)}")
    _write(args.out, _decode_flat(model, moved), len(alphas), _upscale(args, model))
    return 0


if __name__ == "__main__":  # python -m waveglow.commands.glow ...
    from waveglow.cli import COMMANDS

    _parser = argparse.ArgumentParser(prog="waveglow glow", description=dict((c[0], c[2]) for c in COMMANDS)["glow"])
    add_arguments(_parser)
    sys.exit(run(_parser.parse_args()))
